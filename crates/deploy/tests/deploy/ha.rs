//! Scale-out: deploy/components/ha (replicas, spread, disruption budget, Redis from the HA
//! install), ha-sentinel (the repo-server on redis-ha's Sentinels) and the hpa example, on
//! the stand-in for upstream's HA install.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::argocd::{assert_client_wired, SHARED_ITEMS};
use crate::support::invariants::check;
use crate::support::objects::{Object, Rendered};
use crate::support::pod::{assert_cmd_param, assert_literal, assert_secret_key, env, envs};
use crate::support::setup::{Extra, Install, Layout, Setup};
use crate::support::{clients, read, MTLS_SECRET, REPO_SERVER};

/// What upstream's HA install sets redis.server to.
const HAPROXY: &str = "argocd-redis-ha-haproxy:6379";
/// The redis-ha chart's master group in upstream's HA install (chart/values.yaml).
const MASTER_GROUP: &str = "argocd";
/// Our NetworkPolicy in front of the redis-ha pods.
const SENTINEL_POLICY: &str = "argocd-redis-ha-repo-server-network-policy";

fn ha(extras: &[Extra]) -> Option<Rendered> {
    let r = Setup::new(Install::Ha, Layout::Argocd, extras).render()?;
    check(&r);
    Some(r)
}

/// Whether `selector` selects pods labelled `labels` (matchLabels only: these manifests use
/// nothing else, and an expression here would be a change worth a look).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    assert!(selector.match_expressions.is_none(), "{selector:?}");
    let wanted = selector.match_labels.as_ref().expect("matchLabels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The repo-server's pod labels.
fn pod_labels(r: &Rendered) -> BTreeMap<String, String> {
    r.workload("Deployment", REPO_SERVER).labels()
}

/// Whether some NetworkPolicy of `r` admits pods labelled `from` to pods labelled `to` on TCP
/// `port`.
fn admitted(
    r: &Rendered,
    from: &BTreeMap<String, String>,
    to: &BTreeMap<String, String>,
    port: i32,
) -> bool {
    let mut policies = r.objects.iter().filter_map(|o| match o {
        Object::NetworkPolicy(p) => Some(&**p),
        _ => None,
    });
    policies.any(|p: &NetworkPolicy| {
        let spec = p.spec.as_ref().expect("policy spec");
        let applies = spec.pod_selector.as_ref().is_some_and(|s| selects(s, to));
        applies
            && spec.ingress.iter().flatten().any(|rule| {
                let peer = rule.from.iter().flatten().any(|peer| {
                    peer.namespace_selector.is_none()
                        && peer.pod_selector.as_ref().is_some_and(|s| selects(s, from))
                });
                let on_port = rule.ports.iter().flatten().any(|p| {
                    p.protocol.as_deref().unwrap_or("TCP") == "TCP"
                        && p.port == Some(IntOrString::Int(port))
                });
                peer && on_port
            })
    })
}

/// The labels of the pods a Service sends to.
fn service_pods(r: &Rendered, name: &str) -> BTreeMap<String, String> {
    let spec = r.service(name).spec.as_ref().expect("service spec");
    spec.selector.clone().expect("service selector")
}

fn service_has_port(r: &Rendered, name: &str, port: i32) -> bool {
    let spec = r.service(name).spec.as_ref().expect("service spec");
    spec.ports.iter().flatten().any(|p| p.port == port)
}

fn redis_server(r: &Rendered) -> Option<String> {
    let cm = r.config_map("argocd-cmd-params-cm");
    cm.data.as_ref()?.get("redis.server").cloned()
}

#[test]
fn ha_runs_two_spread_replicas_with_a_disruption_budget() {
    let Some(r) = ha(&[Extra::Ha]) else { return };
    let w = r.workload("Deployment", REPO_SERVER);
    assert_eq!(w.replicas, Some(2), "upstream's HA count");
    let labels = w.labels();
    let spec = w.spec();

    // Nothing caps the replicas at the number of nodes (an autoscaler may add more).
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    assert!(required.is_none(), "required anti-affinity: {required:?}");

    let spread = spec
        .topology_spread_constraints
        .as_deref()
        .expect("topologySpreadConstraints");
    let by_key: Vec<(&str, &str)> = spread
        .iter()
        .map(|c| (c.topology_key.as_str(), c.when_unsatisfiable.as_str()))
        .collect();
    assert_eq!(
        by_key,
        [
            ("kubernetes.io/hostname", "DoNotSchedule"),
            ("topology.kubernetes.io/zone", "ScheduleAnyway"),
        ]
    );
    for c in spread {
        let key = &c.topology_key;
        assert_eq!(c.max_skew, 1, "{key}");
        assert!(
            selects(c.label_selector.as_ref().expect("labelSelector"), &labels),
            "{key}: the constraint must count the repo-server's own pods"
        );
        // A tainted node (a control plane, a cordoned node in a drain) is no domain.
        assert_eq!(c.node_taints_policy.as_deref(), Some("Honor"), "{key}");
        assert_eq!(
            c.match_label_keys.as_deref(),
            Some(&["pod-template-hash".to_string()][..]),
            "{key}"
        );
    }

    let pdb = r.pdb(REPO_SERVER).spec.as_ref().expect("pdb spec");
    assert_eq!(pdb.max_unavailable, Some(IntOrString::Int(1)));
    assert!(pdb.min_available.is_none());
    let selector = pdb.selector.as_ref().expect("pdb selector");
    assert!(selects(selector, &labels), "the budget covers the pods");
    assert_eq!(
        selector.match_labels,
        r.deployment(REPO_SERVER).spec.selector.match_labels,
        "the budget selects what the Deployment owns"
    );

    // The controller stays the HA install's StatefulSet, wired like every client.
    for client in clients(Install::Ha) {
        assert_client_wired(&r, client, MTLS_SECRET, SHARED_ITEMS);
    }
    assert_eq!(r.count("Deployment", "argocd-application-controller"), 0);
    // The autoscaler is opt-in.
    assert_eq!(r.count("HorizontalPodAutoscaler", REPO_SERVER), 0);
}

/// The replicas share the HA install's Redis through haproxy, as upstream's repo-server does:
/// deploy/argocd keeps the install's redis.server, deploy/base reads it and the password.
#[test]
fn ha_shares_the_cache_through_the_ha_installs_haproxy() {
    for extras in [&[][..], &[Extra::Ha]] {
        let Some(r) = ha(extras) else { return };
        let label = &r.label;
        assert_eq!(redis_server(&r).as_deref(), Some(HAPROXY), "{label}");
        let c = r.workload("Deployment", REPO_SERVER).container(REPO_SERVER);
        assert_cmd_param(c, "REDIS_SERVER", "redis.server");
        assert_secret_key(c, "REDIS_PASSWORD", "argocd-redis", "auth", None);
        // Upstream's haproxy policy admits our pods: same labels as upstream's repo-server.
        let (host, port) = HAPROXY.split_once(':').unwrap();
        let port: i32 = port.parse().unwrap();
        assert!(service_has_port(&r, host, port), "{label}");
        let haproxy = service_pods(&r, host);
        assert!(
            admitted(&r, &pod_labels(&r), &haproxy, port),
            "{label}: no policy admits the repo-server to haproxy"
        );
        assert_eq!(r.count("NetworkPolicy", SENTINEL_POLICY), 0, "{label}");
    }
    // The default install names no server: the repo-server's in-cluster default,
    // upstream's argocd-redis:6379, applies (docs/redis.md).
    let Some(r) = Setup::new(Install::Default, Layout::Argocd, &[Extra::Ha]).render() else {
        return;
    };
    assert_eq!(redis_server(&r), None);
}

#[test]
fn ha_sentinel_points_the_repo_server_at_redis_has_sentinels() {
    let Some(plain) = ha(&[Extra::Ha]) else {
        return;
    };
    let Some(r) = ha(&[Extra::Ha, Extra::HaSentinel]) else {
        return;
    };
    let c = r.workload("Deployment", REPO_SERVER).container(REPO_SERVER);
    assert!(
        !envs(c).iter().any(|e| e.name == "REDIS_SERVER"),
        "REDIS_SERVER would be ignored with a warning at every start"
    );
    assert_literal(c, "REDIS_SENTINEL_MASTER", MASTER_GROUP);
    assert_secret_key(c, "REDIS_PASSWORD", "argocd-redis", "auth", None);
    let hosts = env(c, "REDIS_SENTINEL_HOSTS")
        .value
        .clone()
        .expect("a literal list");
    let hosts: Vec<&str> = hosts.split(',').collect();
    assert_eq!(hosts.len(), 3, "one per redis-ha pod: {hosts:?}");

    let ours = pod_labels(&r);
    for host in hosts {
        let (service, port) = host.split_once(':').expect("host:port");
        assert_eq!(port, "26379", "{host}: the Sentinel port");
        assert!(service.starts_with("argocd-redis-ha-announce-"), "{host}");
        // A Service of the install, with the Sentinel port and the Redis port (the master is
        // announced at its Service's address), in front of a redis-ha pod that a policy
        // admits us to on both; upstream's policies alone do not.
        assert!(service_has_port(&r, service, 26379), "{service}");
        assert!(service_has_port(&r, service, 6379), "{service}");
        let pods = service_pods(&r, service);
        for port in [26379, 6379] {
            assert!(admitted(&r, &ours, &pods, port), "{service}:{port}");
            assert!(!admitted(&plain, &ours, &pods, port), "{service}:{port}");
        }
    }
    let policy = r.network_policy(SENTINEL_POLICY);
    let spec = policy.spec.as_ref().unwrap();
    assert_eq!(
        spec.policy_types.as_deref(),
        Some(&["Ingress".to_string()][..]),
        "only adds to upstream's ingress rules"
    );

    // The other components keep haproxy: argocd-cmd-params-cm, which they read too, is as
    // the install has it.
    assert_eq!(
        r.config_map("argocd-cmd-params-cm"),
        plain.config_map("argocd-cmd-params-cm")
    );
    assert_eq!(redis_server(&r).as_deref(), Some(HAPROXY));
}

#[test]
fn hpa_scales_the_repo_server_on_cpu_and_pending_requests() {
    let Some(r) = ha(&[Extra::Ha, Extra::Hpa]) else {
        return;
    };
    let w = r.workload("Deployment", REPO_SERVER);
    assert_eq!(w.replicas, None, "the autoscaler owns the count");
    let spec = &r.hpa(REPO_SERVER).spec;
    let target = &spec.scale_target_ref;
    assert_eq!(
        (
            target.api_version.as_deref(),
            target.kind.as_str(),
            target.name.as_str()
        ),
        (Some("apps/v1"), "Deployment", REPO_SERVER)
    );
    assert_eq!(spec.min_replicas, Some(2), "ha's replica count");
    assert!(spec.max_replicas > 2);

    let metrics = spec.metrics.as_deref().expect("metrics");
    assert_eq!(metrics.len(), 2);
    let cpu = metrics
        .iter()
        .find(|m| m.type_ == "Resource")
        .and_then(|m| m.resource.as_ref())
        .expect("a Resource metric");
    assert_eq!(cpu.name, "cpu");
    // deploy/base sets no CPU request, which a Utilization target would need.
    assert_eq!(cpu.target.type_, "AverageValue");
    assert!(cpu.target.average_value.is_some());
    let c = w.container(REPO_SERVER);
    assert!(c.resources.is_none(), "then a Utilization target would do");

    let pods = metrics
        .iter()
        .find(|m| m.type_ == "Pods")
        .and_then(|m| m.pods.as_ref())
        .expect("a Pods metric");
    assert_eq!(pods.metric.name, "argocd_repo_pending_request_total");
    assert_eq!(pods.target.type_, "AverageValue");
    assert!(pods.target.average_value.is_some());
    // The metric the server exports under that name.
    assert!(
        read("crates/server/src/metrics/pending.rs").contains(&format!("\"{}\"", pods.metric.name)),
        "the server does not export {}",
        pods.metric.name
    );
}
