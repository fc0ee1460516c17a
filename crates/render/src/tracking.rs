//! Resource tracking: the label and/or annotation that tie each object to its Application,
//! written exactly as upstream's `SetAppInstance` does.

use serde_json::{Map, Value};

use crate::Error;

const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
const INSTALLATION_ID: &str = "argocd.argoproj.io/installation-id";
/// Upstream also labels pod templates when this (pre-v0.11) key is the label key.
const LEGACY_LABEL_KEY: &str = "applications.argoproj.io/app-name";
const LABEL_MAX: usize = 63;

/// How objects are tied to their Application (`application.resourceTrackingMethod`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tracking<'a> {
    /// `label`, `annotation` or `annotation+label`; anything else, including "", means
    /// upstream's default, `annotation`.
    pub method: &'a str,
    /// `application.instanceLabelKey` as sent by the controller (`appLabelKey`). Empty
    /// disables tracking altogether, as upstream does.
    pub label_key: &'a str,
    /// `installationID`; when set it is written as an annotation, else that annotation is
    /// removed.
    pub installation_id: &'a str,
}

impl Tracking<'_> {
    /// Marks `obj` as belonging to app `app` (the instance name the controller sends, e.g.
    /// `ns_name` for apps outside the control-plane namespace); `namespace` is the default
    /// for namespaced objects without one.
    pub(crate) fn apply(
        &self,
        obj: &mut Map<String, Value>,
        app: &str,
        namespace: &str,
    ) -> Result<(), Error> {
        if self.label_key.is_empty() || app.is_empty() || is_crd(obj) {
            return Ok(());
        }
        match self.method {
            "label" => set_label(obj, self.label_key, app),
            "annotation+label" => {
                self.annotate(obj, app, namespace)?;
                set_label(obj, self.label_key, &truncate(app)?)
            }
            _ => self.annotate(obj, app, namespace),
        }
    }

    fn annotate(
        &self,
        obj: &mut Map<String, Value>,
        app: &str,
        namespace: &str,
    ) -> Result<(), Error> {
        let (group, kind) = group_kind(obj);
        let meta = |f: &str| {
            obj.get("metadata")
                .and_then(|m| m.get(f))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let ns = Some(meta("namespace"))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| namespace.to_string());
        let id = format!("{app}:{group}/{kind}:{ns}/{}", meta("name"));
        let mut annotations = string_map(obj, "annotations")?;
        if self.installation_id.is_empty() {
            annotations.remove(INSTALLATION_ID);
        } else {
            annotations.insert(INSTALLATION_ID.into(), self.installation_id.into());
        }
        annotations.insert(TRACKING_ID.into(), id.into());
        put(obj, "annotations", annotations);
        Ok(())
    }
}

fn set_label(obj: &mut Map<String, Value>, key: &str, value: &str) -> Result<(), Error> {
    let mut labels = string_map(obj, "labels")?;
    labels.insert(key.into(), value.into());
    put(obj, "labels", labels);
    if key == LEGACY_LABEL_KEY {
        label_pod_template(obj, key, value);
    }
    Ok(())
}

/// The legacy key also goes on pod templates of workloads, and must then stay out of a
/// selector that old API versions would default from the template.
fn label_pod_template(obj: &mut Map<String, Value>, key: &str, value: &str) {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (group, kind) = group_kind(obj);
    let workload = matches!(group.as_str(), "apps" | "extensions")
        && matches!(
            kind.as_str(),
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
        );
    if !(workload || group == "batch" && kind == "Job") {
        return;
    }
    let Some(spec) = obj
        .entry("spec")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
    else {
        return;
    };
    let template = nested(spec, &["template", "metadata", "labels"]);
    let mut labels = template.as_object().cloned().unwrap_or_default();
    labels.insert(key.into(), value.into());
    *template = Value::Object(labels.clone());
    let legacy = matches!(api_version.as_str(), "apps/v1beta1" | "extensions/v1beta1");
    let no_selector = spec
        .get("selector")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    if workload && legacy && no_selector {
        labels.remove(key);
        *nested(spec, &["selector", "matchLabels"]) = Value::Object(labels);
    }
}

/// The value at `path` below `map`, creating objects on the way.
fn nested<'m>(map: &'m mut Map<String, Value>, path: &[&str]) -> &'m mut Value {
    let (first, rest) = path.split_first().expect("non-empty path");
    let slot = map.entry(*first).or_insert(Value::Null);
    if rest.is_empty() {
        return slot;
    }
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    nested(slot.as_object_mut().expect("just made an object"), rest)
}

/// Upstream's `TruncateLabel`: cut to 63 bytes, then drop trailing non-alphanumerics.
fn truncate(value: &str) -> Result<String, Error> {
    if value.len() <= LABEL_MAX {
        return Ok(value.to_string());
    }
    let mut bytes = &value.as_bytes()[..LABEL_MAX];
    while !bytes.last().is_some_and(u8::is_ascii_alphanumeric) {
        if bytes.len() <= 1 {
            return Err(Error::InvalidArgument(format!(
                "{value}: cannot shorten the app name to a valid 63-character label value"
            )));
        }
        bytes = &bytes[..bytes.len() - 1];
    }
    // Ends on an ASCII byte, so the cut is on a character boundary.
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn group_kind(obj: &Map<String, Value>) -> (String, String) {
    let field = |f: &str| obj.get(f).and_then(Value::as_str).unwrap_or("");
    let group = field("apiVersion")
        .rsplit_once('/')
        .map_or("", |(g, _)| g)
        .to_string();
    (group, field("kind").to_string())
}

fn is_crd(obj: &Map<String, Value>) -> bool {
    let (group, kind) = group_kind(obj);
    kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io"
}

/// `metadata.<field>` as a string map; absent or null gives an empty map.
fn string_map(obj: &Map<String, Value>, field: &str) -> Result<Map<String, Value>, Error> {
    match obj.get("metadata").and_then(|m| m.get(field)) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
        Some(_) => {
            let (_, kind) = group_kind(obj);
            Err(Error::InvalidArgument(format!(
                "{kind}: metadata.{field} must map strings to strings"
            )))
        }
    }
}

fn put(obj: &mut Map<String, Value>, field: &str, value: Map<String, Value>) {
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(field.to_string(), Value::Object(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(t: Tracking<'_>, obj: Value) -> Value {
        let mut map = obj.as_object().cloned().unwrap();
        t.apply(&mut map, "guestbook", "default").unwrap();
        Value::Object(map)
    }

    const KEY: &str = "app.kubernetes.io/instance";

    #[test]
    fn annotation_is_the_default() {
        let obj =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let got = apply(
            Tracking {
                method: "",
                label_key: KEY,
                installation_id: "",
            },
            obj,
        );
        assert_eq!(
            got["metadata"],
            json!({"name": "web", "annotations": {"argocd.argoproj.io/tracking-id": "guestbook:apps/Deployment:default/web"}})
        );
    }

    #[test]
    fn annotation_keeps_own_namespace_and_sets_installation_id() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "other",
                "annotations": {"a": "b", "argocd.argoproj.io/installation-id": "old"}}});
        let got = apply(
            Tracking {
                method: "annotation",
                label_key: KEY,
                installation_id: "inst-1",
            },
            obj,
        );
        assert_eq!(
            got["metadata"]["annotations"],
            json!({"a": "b", "argocd.argoproj.io/installation-id": "inst-1",
                "argocd.argoproj.io/tracking-id": "guestbook:/ConfigMap:other/c"})
        );
    }

    #[test]
    fn annotation_removes_stale_installation_id() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {"argocd.argoproj.io/installation-id": "old"}}});
        let got = apply(
            Tracking {
                method: "annotation",
                label_key: KEY,
                installation_id: "",
            },
            obj,
        );
        assert_eq!(
            got["metadata"]["annotations"],
            json!({"argocd.argoproj.io/tracking-id": "guestbook:/ConfigMap:default/c"})
        );
    }

    #[test]
    fn label_uses_the_key_and_leaves_annotations() {
        let obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"x": "y"}}});
        let got = apply(
            Tracking {
                method: "label",
                label_key: "team/app",
                installation_id: "i",
            },
            obj,
        );
        assert_eq!(
            got["metadata"],
            json!({"name": "s", "labels": {"x": "y", "team/app": "guestbook"}})
        );
    }

    #[test]
    fn annotation_and_label_truncates_only_the_label() {
        let long = format!("{}-{}", "a".repeat(62), "tail");
        let mut obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}})
            .as_object()
            .cloned()
            .unwrap();
        Tracking {
            method: "annotation+label",
            label_key: KEY,
            installation_id: "",
        }
        .apply(&mut obj, &long, "ns")
        .unwrap();
        assert_eq!(obj["metadata"]["labels"][KEY], json!("a".repeat(62)));
        assert_eq!(
            obj["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
            json!(format!("{long}:/Service:ns/s"))
        );
    }

    #[test]
    fn crds_and_empty_label_key_are_untouched() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}});
        assert_eq!(
            apply(
                Tracking {
                    method: "",
                    label_key: KEY,
                    installation_id: ""
                },
                crd.clone()
            ),
            crd
        );
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        assert_eq!(
            apply(
                Tracking {
                    method: "",
                    label_key: "",
                    installation_id: ""
                },
                cm.clone()
            ),
            cm
        );
    }

    #[test]
    fn legacy_key_labels_pod_templates_and_guards_old_selectors() {
        let obj = json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"metadata": {"labels": {"app": "d"}}}}});
        let got = apply(
            Tracking {
                method: "label",
                label_key: LEGACY_LABEL_KEY,
                installation_id: "",
            },
            obj,
        );
        assert_eq!(
            got["spec"]["template"]["metadata"]["labels"],
            json!({"app": "d", LEGACY_LABEL_KEY: "guestbook"})
        );
        assert_eq!(
            got["spec"]["selector"],
            json!({"matchLabels": {"app": "d"}})
        );
    }

    #[test]
    fn non_string_labels_are_refused() {
        let mut obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"n": 1}}})
            .as_object()
            .cloned()
            .unwrap();
        let t = Tracking {
            method: "label",
            label_key: KEY,
            installation_id: "",
        };
        assert!(matches!(
            t.apply(&mut obj, "a", "ns"),
            Err(Error::InvalidArgument(_))
        ));
    }
}
