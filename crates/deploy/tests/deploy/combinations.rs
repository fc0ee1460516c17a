//! Every kustomization directory, and every combination an operator can compose (install ×
//! identity layout × any subset of ha/authorization/permissive; on the HA install, ha with
//! ha-sentinel and hpa), built and checked.

use std::path::{Path, PathBuf};

use crate::argocd::assert_client_wired;
use crate::support::invariants::check;
use crate::support::kustomize::{available, deploy, tool, Tool};
use crate::support::objects::{parse, Rendered};
use crate::support::pod::{assert_cmd_param, assert_literal, assert_secret_key, env, envs};
use crate::support::setup::{Extra, Install, Layout, Setup};
use crate::support::{clients, Client, MTLS_SECRET, REPO_SERVER};

fn kustomization_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    if entries
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == "kustomization.yaml"))
    {
        found.push(dir.to_path_buf());
    }
    for entry in entries {
        if entry.is_dir() {
            kustomization_dirs(&entry, found);
        }
    }
}

fn all_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    kustomization_dirs(&deploy(), &mut dirs);
    dirs
}

/// Runs `f` over `items` on a few threads: each build is a process of its own.
fn in_parallel<T: Sync>(items: &[T], f: impl Fn(&T) + Sync) {
    let chunk = items.len().div_ceil(4).max(1);
    std::thread::scope(|s| {
        for part in items.chunks(chunk) {
            let f = &f;
            s.spawn(move || part.iter().for_each(f));
        }
    });
}

#[test]
fn every_kustomization_directory_builds() {
    let Some(tool) = tool() else { return };
    let dirs = all_dirs();
    // Bases, the overlay and its parts, six layouts, cert-manager and its wiring, fixtures.
    assert!(dirs.len() >= 15, "found only {dirs:?}");
    in_parallel(&dirs, |dir| {
        let label = dir.strip_prefix(deploy()).unwrap().display().to_string();
        let yaml = tool.build(dir).unwrap_or_else(|e| panic!("{e}"));
        check(&parse(&yaml, &label));
    });
}

/// What a client's mTLS volume must be under each layout: (Secret, items).
fn expected_client(layout: Layout, client: &Client) -> (String, [(String, String); 3]) {
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    match layout {
        Layout::Argocd | Layout::Shared => (
            MTLS_SECRET.to_string(),
            [
                pair("client.crt", "client.crt"),
                pair("client.key", "client.key"),
                pair("server-ca.crt", "server-ca.crt"),
            ],
        ),
        Layout::PerComponentKeys => (
            MTLS_SECRET.to_string(),
            [
                pair(&format!("{}-client.crt", client.short), "client.crt"),
                pair(&format!("{}-client.key", client.short), "client.key"),
                pair("server-ca.crt", "server-ca.crt"),
            ],
        ),
        Layout::PerComponentSecrets => (
            format!("{MTLS_SECRET}-{}", client.short),
            [
                pair("client.crt", "client.crt"),
                pair("client.key", "client.key"),
                pair("server-ca.crt", "server-ca.crt"),
            ],
        ),
        Layout::CertManager => (
            format!("{MTLS_SECRET}-{}", client.short),
            [
                pair("tls.crt", "client.crt"),
                pair("tls.key", "client.key"),
                pair("ca.crt", "server-ca.crt"),
            ],
        ),
    }
}

fn assert_setup(setup: &Setup, r: &Rendered) {
    check(r);
    for client in clients(setup.install) {
        let (secret, keys) = expected_client(setup.layout, client);
        let keys = [0, 1, 2].map(|i| (keys[i].0.as_str(), keys[i].1.as_str()));
        assert_client_wired(r, client, &secret, keys);
    }

    let w = r.workload("Deployment", REPO_SERVER);
    let label = &r.label;
    if setup.has(Extra::Hpa) {
        assert_eq!(w.replicas, None, "{label}: the autoscaler owns the count");
    } else if setup.has(Extra::Ha) {
        assert_eq!(w.replicas, Some(2), "{label}");
    } else {
        assert_eq!(
            w.replicas, None,
            "{label}: replicas belong to the ha component"
        );
    }
    assert_eq!(
        r.count("PodDisruptionBudget", REPO_SERVER),
        usize::from(setup.has(Extra::Ha))
    );
    assert_eq!(
        r.count("HorizontalPodAutoscaler", REPO_SERVER),
        usize::from(setup.has(Extra::Hpa))
    );

    let c = w.container(REPO_SERVER);
    assert_secret_key(c, "REDIS_PASSWORD", "argocd-redis", "auth", None);
    if setup.has(Extra::HaSentinel) {
        assert!(!envs(c).iter().any(|e| e.name == "REDIS_SERVER"), "{label}");
        assert_literal(c, "REDIS_SENTINEL_MASTER", "argocd");
        assert!(env(c, "REDIS_SENTINEL_HOSTS").value.is_some(), "{label}");
    } else {
        assert_cmd_param(c, "REDIS_SERVER", "redis.server");
        assert_cmd_param(c, "REDIS_SENTINEL_HOSTS", "redis.sentinel.hosts");
        assert_cmd_param(c, "REDIS_SENTINEL_MASTER", "redis.sentinel.master");
    }
    assert_eq!(
        r.count(
            "NetworkPolicy",
            "argocd-redis-ha-repo-server-network-policy"
        ),
        usize::from(setup.has(Extra::HaSentinel))
    );
    // deploy/argocd and the components leave the install's Redis address alone.
    let redis = r
        .config_map("argocd-cmd-params-cm")
        .data
        .as_ref()
        .and_then(|d| d.get("redis.server"));
    assert_eq!(
        redis.map(String::as_str),
        (setup.install == Install::Ha).then_some("argocd-redis-ha-haproxy:6379"),
        "{label}"
    );
    if setup.has(Extra::Permissive) {
        assert_literal(c, "ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE", "permissive");
    } else {
        assert_cmd_param(
            c,
            "ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE",
            "reposerver.client.auth.mode",
        );
    }
    let policy = "ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH";
    if setup.has(Extra::Authorization) {
        assert_literal(
            c,
            policy,
            "/app/config/reposerver/authorization/policy.yaml",
        );
    } else {
        assert_cmd_param(c, policy, "reposerver.authorization.policy.path");
    }
    assert_eq!(
        r.count("ConfigMap", "argocd-repo-server-authorization"),
        usize::from(setup.has(Extra::Authorization))
    );

    let mtls = w.volume(MTLS_SECRET);
    assert_eq!(
        mtls.projected.is_some(),
        setup.layout == Layout::CertManager,
        "{label}: the repo-server's mTLS volume is projected only for cert-manager"
    );
}

#[test]
fn every_combination_keeps_its_wiring() {
    let Some(tool) = tool() else { return };
    let setups = Setup::all();
    assert_eq!(setups.len(), 2 * 5 * 8 + 5 * 5);
    in_parallel(&setups, |setup| {
        let yaml = setup
            .build_with(&tool)
            .unwrap_or_else(|e| panic!("{}: {e}", setup.label()));
        assert_setup(setup, &parse(&yaml, &setup.label()));
    });
}

/// Operators build with standalone kustomize or with the one inside kubectl; both must give
/// the same objects for every directory and combination.
#[test]
fn every_available_kustomize_renders_the_same() {
    let tools = available();
    if tools.len() < 2 {
        if tool().is_some() {
            eprintln!("skipped: only {} is available to compare", tools[0]);
        }
        return;
    }
    let reference: &Tool = &tools[0];
    let dirs = all_dirs();
    for other in &tools[1..] {
        in_parallel(&dirs, |dir| {
            let label = dir.display().to_string();
            let a = parse(
                &reference.build(dir).unwrap_or_else(|e| panic!("{e}")),
                &label,
            );
            let b = parse(&other.build(dir).unwrap_or_else(|e| panic!("{e}")), &label);
            assert_eq!(
                sorted(&a),
                sorted(&b),
                "{label}: {reference} and {other} differ"
            );
        });
        in_parallel(&Setup::all(), |setup| {
            let label = setup.label();
            let a = parse(
                &setup
                    .build_with(reference)
                    .unwrap_or_else(|e| panic!("{e}")),
                &label,
            );
            let b = parse(
                &setup.build_with(other).unwrap_or_else(|e| panic!("{e}")),
                &label,
            );
            assert_eq!(
                sorted(&a),
                sorted(&b),
                "{label}: {reference} and {other} differ"
            );
        });
    }
}

/// The objects in a fixed order: the order of a stream does not matter to `kubectl apply`.
fn sorted(r: &Rendered) -> Vec<String> {
    let mut docs: Vec<String> = r.documents.iter().map(|d| d.to_string()).collect();
    docs.sort();
    docs
}
