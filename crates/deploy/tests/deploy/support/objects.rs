//! kustomize output as Kubernetes' own API types. Each document is parsed as YAML, read into
//! the k8s-openapi struct of its kind, and serialized back: the round trip must give the
//! document unchanged, so a misspelled or misplaced field (which the structs would silently
//! ignore) fails the test instead of being dropped by the API server at apply time.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug)]
pub(crate) enum Object {
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    Service(Box<Service>),
    ServiceAccount(Box<ServiceAccount>),
    NetworkPolicy(Box<NetworkPolicy>),
    ConfigMap(Box<ConfigMap>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    HorizontalPodAutoscaler(Box<HorizontalPodAutoscaler>),
    /// cert-manager.io/v1 Issuer and Certificate: no typed structs exist, so they are checked
    /// as JSON by the cert-manager tests.
    CertManager(Value),
}

impl Object {
    pub(crate) fn kind(&self) -> &str {
        match self {
            Object::Deployment(_) => "Deployment",
            Object::StatefulSet(_) => "StatefulSet",
            Object::Service(_) => "Service",
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::ConfigMap(_) => "ConfigMap",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Object::HorizontalPodAutoscaler(_) => "HorizontalPodAutoscaler",
            Object::CertManager(v) => v["kind"].as_str().unwrap_or_default(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        let meta = match self {
            Object::Deployment(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::HorizontalPodAutoscaler(o) => &o.metadata,
            Object::CertManager(v) => return v["metadata"]["name"].as_str().unwrap_or_default(),
        };
        meta.name.as_deref().unwrap_or_default()
    }

    pub(crate) fn namespace(&self) -> Option<&str> {
        let meta = match self {
            Object::Deployment(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::HorizontalPodAutoscaler(o) => &o.metadata,
            Object::CertManager(v) => return v["metadata"]["namespace"].as_str(),
        };
        meta.namespace.as_deref()
    }
}

/// A Deployment or StatefulSet: what the wiring is about.
pub(crate) struct Workload<'a> {
    pub kind: &'static str,
    pub name: &'a str,
    pub replicas: Option<i32>,
    pub template: &'a PodTemplateSpec,
}

impl Workload<'_> {
    pub(crate) fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// One rendered kustomization.
pub(crate) struct Rendered {
    /// What was built, for messages.
    pub label: String,
    pub objects: Vec<Object>,
    /// The documents as kustomize printed them, for comparisons between renders.
    pub documents: Vec<Value>,
}

fn typed<T: DeserializeOwned + Serialize>(doc: &Value, label: &str) -> T {
    let id = format!("{label}: {} {}", doc["kind"], doc["metadata"]["name"]);
    let object: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{id}: {e}"));
    let back = serde_json::to_value(&object).unwrap_or_else(|e| panic!("{id}: {e}"));
    if &back != doc {
        panic!(
            "{id} has fields its API type does not know (or misplaced ones):\nrendered:\n{}\nas the API type reads it:\n{}",
            serde_json::to_string_pretty(doc).unwrap(),
            serde_json::to_string_pretty(&back).unwrap()
        );
    }
    object
}

/// Parses kustomize output; panics naming the object when one does not fit its type.
pub(crate) fn parse(yaml: &str, label: &str) -> Rendered {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("{label}: YAML: {e}\n{yaml}"));
    let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
    let objects = documents
        .iter()
        .map(|doc| {
            let api = doc["apiVersion"].as_str().unwrap_or_default();
            let kind = doc["kind"].as_str().unwrap_or_default();
            match (api, kind) {
                ("apps/v1", "Deployment") => Object::Deployment(typed(doc, label)),
                ("apps/v1", "StatefulSet") => Object::StatefulSet(typed(doc, label)),
                ("v1", "Service") => Object::Service(typed(doc, label)),
                ("v1", "ServiceAccount") => Object::ServiceAccount(typed(doc, label)),
                ("v1", "ConfigMap") => Object::ConfigMap(typed(doc, label)),
                ("networking.k8s.io/v1", "NetworkPolicy") => {
                    Object::NetworkPolicy(typed(doc, label))
                }
                ("policy/v1", "PodDisruptionBudget") => {
                    Object::PodDisruptionBudget(typed(doc, label))
                }
                ("autoscaling/v2", "HorizontalPodAutoscaler") => {
                    Object::HorizontalPodAutoscaler(typed(doc, label))
                }
                ("cert-manager.io/v1", "Issuer" | "Certificate") => {
                    Object::CertManager(doc.clone())
                }
                _ => panic!("{label}: unexpected object {api} {kind}: add it to the tests"),
            }
        })
        .collect();
    Rendered {
        label: label.to_string(),
        objects,
        documents,
    }
}

impl Rendered {
    pub(crate) fn count(&self, kind: &str, name: &str) -> usize {
        self.objects
            .iter()
            .filter(|o| o.kind() == kind && o.name() == name)
            .count()
    }

    fn one<'a, T>(&'a self, kind: &str, name: &str, pick: impl Fn(&'a Object) -> Option<T>) -> T {
        let found: Vec<T> = self
            .objects
            .iter()
            .filter(|o| o.kind() == kind && o.name() == name)
            .filter_map(pick)
            .collect();
        match <[T; 1]>::try_from(found) {
            Ok([one]) => one,
            Err(found) => panic!(
                "{}: {} {kind} named {name}, expected one",
                self.label,
                found.len()
            ),
        }
    }

    pub(crate) fn deployment(&self, name: &str) -> &Deployment {
        self.one("Deployment", name, |o| match o {
            Object::Deployment(d) => Some(&**d),
            _ => None,
        })
    }

    pub(crate) fn statefulset(&self, name: &str) -> &StatefulSet {
        self.one("StatefulSet", name, |o| match o {
            Object::StatefulSet(s) => Some(&**s),
            _ => None,
        })
    }

    pub(crate) fn service(&self, name: &str) -> &Service {
        self.one("Service", name, |o| match o {
            Object::Service(s) => Some(&**s),
            _ => None,
        })
    }

    pub(crate) fn service_account(&self, name: &str) -> &ServiceAccount {
        self.one("ServiceAccount", name, |o| match o {
            Object::ServiceAccount(s) => Some(&**s),
            _ => None,
        })
    }

    pub(crate) fn network_policy(&self, name: &str) -> &NetworkPolicy {
        self.one("NetworkPolicy", name, |o| match o {
            Object::NetworkPolicy(n) => Some(&**n),
            _ => None,
        })
    }

    pub(crate) fn config_map(&self, name: &str) -> &ConfigMap {
        self.one("ConfigMap", name, |o| match o {
            Object::ConfigMap(c) => Some(&**c),
            _ => None,
        })
    }

    pub(crate) fn pdb(&self, name: &str) -> &PodDisruptionBudget {
        self.one("PodDisruptionBudget", name, |o| match o {
            Object::PodDisruptionBudget(p) => Some(&**p),
            _ => None,
        })
    }

    pub(crate) fn hpa(&self, name: &str) -> &HorizontalPodAutoscaler {
        self.one("HorizontalPodAutoscaler", name, |o| match o {
            Object::HorizontalPodAutoscaler(h) => Some(&**h),
            _ => None,
        })
    }

    pub(crate) fn cert_manager(&self, kind: &str, name: &str) -> &Value {
        self.one(kind, name, |o| match o {
            Object::CertManager(v) => Some(v),
            _ => None,
        })
    }

    pub(crate) fn cert_manager_all(&self, kind: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .filter_map(|o| match o {
                Object::CertManager(v) if v["kind"] == kind => Some(v),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn workloads(&self) -> Vec<Workload<'_>> {
        self.objects
            .iter()
            .filter_map(|o| match o {
                Object::Deployment(d) => Some(Workload {
                    kind: "Deployment",
                    name: d.metadata.name.as_deref().unwrap_or_default(),
                    replicas: d.spec.replicas,
                    template: &d.spec.template,
                }),
                Object::StatefulSet(s) => Some(Workload {
                    kind: "StatefulSet",
                    name: s.metadata.name.as_deref().unwrap_or_default(),
                    replicas: s.spec.replicas,
                    template: &s.spec.template,
                }),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn workload(&self, kind: &str, name: &str) -> Workload<'_> {
        let mut found: Vec<Workload<'_>> = self
            .workloads()
            .into_iter()
            .filter(|w| w.kind == kind && w.name == name)
            .collect();
        assert_eq!(found.len(), 1, "{}: {kind}/{name} count", self.label);
        found.remove(0)
    }

    /// The document of one object, as rendered.
    pub(crate) fn document(&self, kind: &str, name: &str) -> &Value {
        let found: Vec<&Value> = self
            .documents
            .iter()
            .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .collect();
        assert_eq!(found.len(), 1, "{}: {kind}/{name} count", self.label);
        found[0]
    }

    /// (kind, name) of every object, sorted.
    pub(crate) fn ids(&self) -> Vec<(String, String)> {
        let mut ids: Vec<(String, String)> = self
            .objects
            .iter()
            .map(|o| (o.kind().to_string(), o.name().to_string()))
            .collect();
        ids.sort();
        ids
    }
}
