//! Rules every rendered combination must keep, whatever components were stacked:
//! - object names are unique per kind;
//! - no pod has two volumes of one name, no container two mounts on one path, and every mount
//!   names a volume of the pod;
//! - Secret, projected and ConfigMap volumes are never mounted with subPath (kubelet never
//!   updates a subPath mount, which would silently defeat live rotation);
//! - every Secret behind the mTLS volume, and the serving-certificate Secret, is optional, so
//!   pods start before the Secrets exist;
//! - env names are unique, no env has both a value and a valueFrom, and settings read from
//!   argocd-cmd-params-cm are optional;
//! - the repo-server keeps its hardening.

use k8s_openapi::api::core::v1::{KeyToPath, Volume};

use super::objects::{Rendered, Workload};
use super::pod::{envs, mounts};
use super::{IMAGE, MTLS_PATH, MTLS_SECRET, REPO_SERVER, TLS_SECRET};

/// A Secret a volume projects: (name, optional, items).
pub(crate) struct SecretSource<'a> {
    pub name: &'a str,
    pub optional: Option<bool>,
    pub items: &'a Option<Vec<KeyToPath>>,
}

/// The Secrets behind a volume, whether it is a Secret volume or a projected one.
pub(crate) fn secret_sources(volume: &Volume) -> Vec<SecretSource<'_>> {
    let mut sources = Vec::new();
    if let Some(secret) = &volume.secret {
        sources.push(SecretSource {
            name: secret.secret_name.as_deref().unwrap_or_default(),
            optional: secret.optional,
            items: &secret.items,
        });
    }
    if let Some(projected) = &volume.projected {
        for source in projected.sources.iter().flatten() {
            if let Some(secret) = &source.secret {
                sources.push(SecretSource {
                    name: &secret.name,
                    optional: secret.optional,
                    items: &secret.items,
                });
            }
        }
    }
    sources
}

fn updated_by_kubelet(volume: &Volume) -> bool {
    volume.secret.is_some() || volume.projected.is_some() || volume.config_map.is_some()
}

pub(crate) fn check(r: &Rendered) {
    let ids = r.ids();
    for pair in ids.windows(2) {
        assert_ne!(pair[0], pair[1], "{}: duplicate object", r.label);
    }
    for workload in r.workloads() {
        pod(&r.label, &workload);
    }
    // Ours, not a fixture's stand-in for upstream's.
    if r.count("Deployment", REPO_SERVER) == 1 {
        let w = r.workload("Deployment", REPO_SERVER);
        if w.container(REPO_SERVER).image.as_deref() == Some(IMAGE) {
            hardened(&w);
        }
    }
}

fn pod(label: &str, w: &Workload<'_>) {
    let id = format!("{label}: {}", w.id());
    let volumes = w.volumes();
    let mut names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
    names.sort();
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "{id}: two volumes named {}", pair[0]);
    }

    for container in w.all_containers() {
        let cid = format!("{id} container {}", container.name);
        let mut paths: Vec<&str> = mounts(container)
            .iter()
            .map(|m| m.mount_path.as_str())
            .collect();
        paths.sort();
        for pair in paths.windows(2) {
            assert_ne!(
                pair[0], pair[1],
                "{cid}: two volumes mounted on {}",
                pair[0]
            );
        }
        for mount in mounts(container) {
            let volume = volumes
                .iter()
                .find(|v| v.name == mount.name)
                .unwrap_or_else(|| panic!("{cid}: mount of unknown volume {}", mount.name));
            if updated_by_kubelet(volume) {
                assert!(
                    mount.sub_path.is_none() && mount.sub_path_expr.is_none(),
                    "{cid}: {} is mounted with subPath, so it would never be updated",
                    mount.name
                );
            }
            if mount.mount_path == MTLS_PATH {
                assert_eq!(
                    mount.name, MTLS_SECRET,
                    "{cid}: what is mounted on {MTLS_PATH}"
                );
            }
            if mount.name == MTLS_SECRET {
                assert_eq!(
                    mount.mount_path, MTLS_PATH,
                    "{cid}: where {MTLS_SECRET} is mounted"
                );
            }
        }

        let mut env_names: Vec<&str> = envs(container).iter().map(|e| e.name.as_str()).collect();
        env_names.sort();
        for pair in env_names.windows(2) {
            assert_ne!(pair[0], pair[1], "{cid}: env {} twice", pair[0]);
        }
        for env in envs(container) {
            assert!(
                env.value.is_none() || env.value_from.is_none(),
                "{cid}: env {} has both a value and a valueFrom",
                env.name
            );
            let cm_ref = env
                .value_from
                .as_ref()
                .and_then(|f| f.config_map_key_ref.as_ref());
            if let Some(selector) = cm_ref.filter(|s| s.name == "argocd-cmd-params-cm") {
                assert_eq!(
                    selector.optional,
                    Some(true),
                    "{cid}: env {} must be optional",
                    env.name
                );
            }
        }
    }

    for volume in volumes {
        if volume.name == MTLS_SECRET || volume.name == TLS_SECRET {
            let sources = secret_sources(volume);
            assert!(
                !sources.is_empty(),
                "{id}: volume {} has no Secret",
                volume.name
            );
            for source in sources {
                assert_eq!(
                    source.optional,
                    Some(true),
                    "{id}: volume {} needs Secret {} to exist",
                    volume.name,
                    source.name
                );
            }
        }
    }
}

/// Non-root uid 999, read-only root filesystem with writable /tmp, no capabilities, no
/// privilege escalation, RuntimeDefault seccomp, no service-account token.
pub(crate) fn hardened(w: &Workload<'_>) {
    let id = w.id();
    let spec = w.spec();
    assert_eq!(
        spec.automount_service_account_token,
        Some(false),
        "{id}: token automount"
    );
    let pod = spec
        .security_context
        .as_ref()
        .unwrap_or_else(|| panic!("{id}: pod securityContext"));
    assert_eq!(pod.run_as_non_root, Some(true), "{id}: pod runAsNonRoot");
    assert_eq!(pod.run_as_user, Some(999), "{id}: pod runAsUser");
    assert_eq!(
        pod.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        Some("RuntimeDefault"),
        "{id}: pod seccomp"
    );
    for container in w.all_containers() {
        let cid = format!("{id} container {}", container.name);
        let sc = container
            .security_context
            .as_ref()
            .unwrap_or_else(|| panic!("{cid}: securityContext"));
        assert_eq!(sc.run_as_non_root, Some(true), "{cid}: runAsNonRoot");
        assert_eq!(sc.run_as_user, Some(999), "{cid}: runAsUser");
        assert_eq!(
            sc.read_only_root_filesystem,
            Some(true),
            "{cid}: readOnlyRootFilesystem"
        );
        assert_eq!(
            sc.allow_privilege_escalation,
            Some(false),
            "{cid}: allowPrivilegeEscalation"
        );
        assert_ne!(sc.privileged, Some(true), "{cid}: privileged");
        let caps = sc
            .capabilities
            .as_ref()
            .unwrap_or_else(|| panic!("{cid}: capabilities"));
        assert_eq!(
            caps.drop.as_deref(),
            Some(&["ALL".to_string()][..]),
            "{cid}: drop"
        );
        assert!(
            caps.add.as_deref().unwrap_or_default().is_empty(),
            "{cid}: added capabilities"
        );
        assert_eq!(
            sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
            Some("RuntimeDefault"),
            "{cid}: seccomp"
        );
        let tmp = mounts(container)
            .iter()
            .find(|m| m.mount_path == "/tmp")
            .unwrap_or_else(|| panic!("{cid}: no writable /tmp"));
        assert!(
            w.volume(&tmp.name).empty_dir.is_some(),
            "{cid}: /tmp must be an emptyDir"
        );
    }
}
