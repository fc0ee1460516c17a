//! deploy/base: the repo-server on its own.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::support::invariants::{check, secret_sources};
use crate::support::kustomize::repo;
use crate::support::pod::{
    assert_cmd_param, assert_config_map_key, assert_literal, assert_secret_key, envs, items,
    mount_at, mounts,
};
use crate::support::setup::{render, render_dir};
use crate::support::{read, IMAGE, MTLS_PATH, MTLS_SECRET, REPO_SERVER, TLS_PATH, TLS_SECRET};

/// Every setting the repo-server reads from the environment that operators tune, with its
/// argocd-cmd-params-cm key: upstream's key where upstream has one, otherwise ours, named
/// after upstream's scheme.
pub(crate) const CMD_PARAMS: [(&str, &str); 46] = [
    (
        "ARGOCD_REPO_SERVER_LISTEN_ADDRESS",
        "reposerver.listen.address",
    ),
    (
        "ARGOCD_REPO_SERVER_METRICS_LISTEN_ADDRESS",
        "reposerver.metrics.listen.address",
    ),
    ("ARGOCD_REPO_SERVER_DISABLE_TLS", "reposerver.disable.tls"),
    ("ARGOCD_TLS_MIN_VERSION", "reposerver.tls.minversion"),
    ("ARGOCD_TLS_MAX_VERSION", "reposerver.tls.maxversion"),
    ("ARGOCD_TLS_CIPHERS", "reposerver.tls.ciphers"),
    (
        "ARGOCD_REPO_SERVER_CLIENT_CA_PATH",
        "reposerver.client.ca.path",
    ),
    (
        "ARGOCD_REPO_SERVER_CLIENT_CRL_PATH",
        "reposerver.client.crl.path",
    ),
    (
        "ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE",
        "reposerver.client.auth.mode",
    ),
    (
        "ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH",
        "reposerver.authorization.policy.path",
    ),
    (
        "ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE",
        "reposerver.max.connection.age",
    ),
    (
        "ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE_GRACE",
        "reposerver.max.connection.age.grace",
    ),
    (
        "ARGOCD_REPO_SERVER_PARALLELISM_LIMIT",
        "reposerver.parallelism.limit",
    ),
    (
        "ARGOCD_REPO_SERVER_REPO_CACHE_SIZE_MB",
        "reposerver.repo.cache.size.mb",
    ),
    (
        "ARGOCD_REPO_SERVER_MANIFEST_CACHE_SIZE_MB",
        "reposerver.manifest.cache.size.mb",
    ),
    ("ARGOCD_REPO_SERVER_LOGFORMAT", "reposerver.log.format"),
    ("ARGOCD_REPO_SERVER_LOGLEVEL", "reposerver.log.level"),
    ("ARGOCD_GRPC_MAX_SIZE_MB", "reposerver.grpc.max.size"),
    (
        "ARGOCD_REPO_SERVER_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE",
        "reposerver.max.combined.directory.manifests.size",
    ),
    (
        "ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_TAR_SIZE",
        "reposerver.streamed.manifest.max.tar.size",
    ),
    (
        "ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_EXTRACTED_SIZE",
        "reposerver.streamed.manifest.max.extracted.size",
    ),
    (
        "ARGOCD_REPO_SERVER_ALLOW_OUT_OF_BOUNDS_SYMLINKS",
        "reposerver.allow.oob.symlinks",
    ),
    (
        "ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES",
        "reposerver.include.hidden.directories",
    ),
    (
        "ARGOCD_REPO_CACHE_EXPIRATION",
        "reposerver.repo.cache.expiration",
    ),
    (
        "ARGOCD_DEFAULT_CACHE_EXPIRATION",
        "reposerver.default.cache.expiration",
    ),
    (
        "ARGOCD_GIT_LS_REMOTE_PARALLELISM_LIMIT",
        "reposerver.git.lsremote.parallelism.limit",
    ),
    (
        "ARGOCD_GIT_REQUEST_TIMEOUT",
        "reposerver.git.request.timeout",
    ),
    (
        "ARGOCD_GIT_MODULES_ENABLED",
        "reposerver.enable.git.submodule",
    ),
    (
        "ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_EXTRACTED_SIZE",
        "reposerver.helm.manifest.max.extracted.size",
    ),
    (
        "ARGOCD_REPO_SERVER_DISABLE_HELM_MANIFEST_MAX_EXTRACTED_SIZE",
        "reposerver.disable.helm.manifest.max.extracted.size",
    ),
    (
        "ARGOCD_REPO_SERVER_OCI_MANIFEST_MAX_EXTRACTED_SIZE",
        "reposerver.oci.manifest.max.extracted.size",
    ),
    (
        "ARGOCD_REPO_SERVER_DISABLE_OCI_MANIFEST_MAX_EXTRACTED_SIZE",
        "reposerver.disable.oci.manifest.max.extracted.size",
    ),
    (
        "ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES",
        "reposerver.oci.layer.media.types",
    ),
    ("ARGOCD_HELM_USER_AGENT", "reposerver.helm.user.agent"),
    // The shared cache (upstream's keys, shared with its other components but the last).
    ("REDIS_SERVER", "redis.server"),
    ("REDIS_SENTINEL_HOSTS", "redis.sentinel.hosts"),
    ("REDIS_SENTINEL_MASTER", "redis.sentinel.master"),
    ("REDIS_COMPRESSION", "redis.compression"),
    ("REDISDB", "redis.db"),
    ("ARGOCD_REDIS_KEY_PREFIX", "redis.key.prefix"),
    (
        "ARGOCD_REVISION_CACHE_LOCK_TIMEOUT",
        "reposerver.revision.cache.lock.timeout",
    ),
    // Tracing (upstream's keys, shared with its other components).
    ("ARGOCD_REPO_SERVER_OTLP_ADDRESS", "otlp.address"),
    ("ARGOCD_REPO_SERVER_OTLP_INSECURE", "otlp.insecure"),
    ("ARGOCD_REPO_SERVER_OTLP_HEADERS", "otlp.headers"),
    ("ARGOCD_REPO_SERVER_OTLP_ATTRS", "otlp.attrs"),
    ("ARGOCD_REPO_SERVER_OTLP_SAMPLE_RATIO", "otlp.sample.ratio"),
];

/// Variables read from a Secret key, as upstream's manifest reads them: (name, Secret, key).
/// Required, as upstream's: see deploy/base/deployment.yaml for why.
pub(crate) const SECRETS: [(&str, &str, &str); 1] = [("REDIS_PASSWORD", "argocd-redis", "auth")];

/// Variables a component wires instead of deploy/base: (name, argocd-cmd-params-cm key,
/// component). Plugins only run with the plugins component's volumes and sidecars.
const IN_COMPONENTS: [(&str, &str, &str); 2] = [
    (
        "ARGOCD_REPO_SERVER_PLUGIN_TAR_EXCLUSIONS",
        "reposerver.plugin.tar.exclusions",
        "components/plugins",
    ),
    (
        "ARGOCD_REPO_SERVER_PLUGIN_USE_MANIFEST_GENERATE_PATHS",
        "reposerver.plugin.use.manifest.generate.paths",
        "components/plugins",
    ),
];

/// Settings upstream reads from argocd-cm (shared with the application controller), with
/// their keys there.
const ARGOCD_CM: [(&str, &str); 1] = [("ARGOCD_RECONCILIATION_TIMEOUT", "timeout.reconciliation")];

/// Variables set to a fixed value because they must match a mount of the Deployment.
const FIXED: [(&str, &str); 3] = [
    ("ARGOCD_REPO_SERVER_REPO_CACHE_DIR", "/app/cache"),
    ("ARGOCD_TLS_DATA_PATH", "/app/config/tls"),
    ("SSH_KNOWN_HOSTS", "/app/config/ssh/ssh_known_hosts"),
];

/// Variables the server reads that are deliberately not wired, and why.
const NOT_WIRED: [(&str, &str); 24] = [
    (
        "ARGOCD_APP_CONF_PATH",
        "the configuration root is fixed by the mounts",
    ),
    (
        "ARGOCD_REPO_SERVER_ALLOW_FILE_REPOS",
        "file:// repositories are for tests only",
    ),
    // Upstream reads these from the environment only, with no config-map key; operators set
    // them with a `value:` patch, which a valueFrom here would turn into an invalid env var.
    ("ARGOCD_EXEC_TIMEOUT", "upstream: env only"),
    (
        "ARGOCD_PAUSE_GEN_AFTER_FAILED_ATTEMPTS",
        "upstream: env only",
    ),
    ("ARGOCD_PAUSE_GEN_MINUTES", "upstream: env only"),
    ("ARGOCD_PAUSE_GEN_REQUESTS", "upstream: env only"),
    ("ARGOCD_EXEC_FATAL_TIMEOUT", "upstream: env only"),
    ("ARGOCD_GIT_ATTEMPTS_COUNT", "upstream: env only"),
    ("ARGOCD_GIT_RETRY_DURATION", "upstream: env only"),
    ("ARGOCD_GIT_RETRY_MAX_DURATION", "upstream: env only"),
    ("ARGOCD_GIT_RETRY_FACTOR", "upstream: env only"),
    (
        "ARGOCD_GITHUB_APP_CREDS_EXPIRATION_DURATION",
        "upstream: env only",
    ),
    (
        "ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_INDEX_SIZE",
        "upstream's manifests do not wire it either",
    ),
    (
        "ARGOCD_SSH_DATA_PATH",
        "SSH_KNOWN_HOSTS (fixed above) names the mounted file",
    ),
    // Upstream's manifests do not set these: the defaults are the gpg-keys and gpg-keyring
    // mounts (checked in base_mounts_the_gpg_keys_and_a_writable_keyring).
    ("ARGOCD_GPG_ENABLED", "upstream: env only, on by default"),
    (
        "ARGOCD_GPG_DATA_PATH",
        "its default is the gpg-keys mount, as upstream",
    ),
    (
        "ARGOCD_GNUPGHOME",
        "its default is the gpg-keyring mount, as upstream",
    ),
    // Upstream's manifests set only the Redis password: ACL users, Sentinel credentials and
    // a credentials directory are the operator's to add (docs/redis.md).
    ("REDIS_USERNAME", "upstream: env only"),
    ("REDIS_SENTINEL_USERNAME", "upstream: env only"),
    ("REDIS_SENTINEL_PASSWORD", "upstream: env only"),
    ("REDIS_CREDS_DIR_PATH", "upstream: env only"),
    ("REDIS_RETRY_COUNT", "upstream: env only"),
    ("ARGOCD_CMP_CHUNK_SIZE", "upstream: env only"),
    (
        "ARGOCD_PLUGINSOCKFILEPATH",
        "its default is the plugins mount of components/plugins, as upstream",
    ),
];

fn labels() -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", REPO_SERVER),
        ("app.kubernetes.io/part-of", "argocd"),
        ("app.kubernetes.io/component", "repo-server"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn selector() -> BTreeMap<String, String> {
    [(
        "app.kubernetes.io/name".to_string(),
        REPO_SERVER.to_string(),
    )]
    .into()
}

#[test]
fn base_has_upstreams_objects_and_labels() {
    let Some(r) = render_dir("base") else { return };
    check(&r);
    assert_eq!(
        r.ids(),
        [
            ("Deployment", REPO_SERVER),
            ("NetworkPolicy", "argocd-repo-server-network-policy"),
            ("Service", REPO_SERVER),
            ("ServiceAccount", REPO_SERVER),
        ]
        .map(|(k, n)| (k.to_string(), n.to_string()))
    );
    for object in &r.documents {
        let got: BTreeMap<String, String> =
            serde_json::from_value(object["metadata"]["labels"].clone()).unwrap();
        assert_eq!(
            got,
            labels(),
            "labels of {} {}",
            object["kind"],
            object["metadata"]["name"]
        );
    }
    assert_eq!(
        r.service_account(REPO_SERVER)
            .automount_service_account_token,
        Some(false)
    );

    let d = r.deployment(REPO_SERVER);
    assert_eq!(d.spec.selector.match_labels.as_ref(), Some(&selector()));
    let w = r.workload("Deployment", REPO_SERVER);
    for (k, v) in selector() {
        assert_eq!(w.labels().get(&k), Some(&v), "pod label {k}");
    }
    assert_eq!(w.spec().service_account_name.as_deref(), Some(REPO_SERVER));
    let c = w.container(REPO_SERVER);
    assert_eq!(c.image.as_deref(), Some(IMAGE));
    assert_eq!(
        c.command.as_deref(),
        Some(&["argocd-repo-server".to_string()][..])
    );
    assert!(c.args.is_none(), "flags belong in argocd-cmd-params-cm");
    let ports: Vec<(Option<&str>, i32)> = c
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.as_deref(), p.container_port))
        .collect();
    assert_eq!(ports, [(Some("server"), 8081), (Some("metrics"), 8084)]);
}

#[test]
fn base_reads_every_setting_from_argocd_cmd_params_cm() {
    let Some(r) = render_dir("base") else { return };
    let w = r.workload("Deployment", REPO_SERVER);
    let c = w.container(REPO_SERVER);
    for (name, key) in CMD_PARAMS {
        assert_cmd_param(c, name, key);
    }
    for (name, key) in ARGOCD_CM {
        assert_config_map_key(c, name, "argocd-cm", key);
    }
    for (name, value) in FIXED {
        assert_literal(c, name, value);
    }
    for (name, secret, key) in SECRETS {
        assert_secret_key(c, name, secret, key, None);
    }
    assert_eq!(
        envs(c).len(),
        CMD_PARAMS.len() + ARGOCD_CM.len() + FIXED.len() + SECRETS.len(),
        "unexpected env vars"
    );
    // The fixed paths are where the volumes are.
    let cache = mount_at(c, "/app/cache");
    assert!(w.volume(&cache.name).empty_dir.is_some());
    assert_eq!(mount_at(c, "/app/config/ssh").name, "ssh-known-hosts");
}

/// The variables the server reads: every `ENV_` constant of crates/server/src/config.rs and
/// crates/server/src/config/*.rs.
fn server_variables() -> Vec<String> {
    let dir = repo().join("crates/server/src/config");
    let mut files = vec!["crates/server/src/config.rs".to_string()];
    let mut modules: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs"))
        .map(|n| format!("crates/server/src/config/{n}"))
        .collect();
    modules.sort();
    files.extend(modules);
    files
        .iter()
        .flat_map(|f| {
            // rustfmt may put a long value on the line after its name.
            read(f)
                .split("const ENV_")
                .skip(1)
                .filter_map(|l| l.split('"').nth(1).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every name this file knows, wired or not.
fn known() -> Vec<&'static str> {
    CMD_PARAMS
        .iter()
        .chain(&ARGOCD_CM)
        .chain(&FIXED)
        .chain(&NOT_WIRED)
        .map(|(n, _)| *n)
        .chain(SECRETS.iter().map(|(n, _, _)| *n))
        .chain(IN_COMPONENTS.iter().map(|(n, _, _)| *n))
        .collect()
}

/// A variable added to the server must be wired into deploy/base too, or listed here as
/// deliberately not wired.
#[test]
fn every_server_environment_variable_is_wired() {
    let declared = server_variables();
    assert!(
        declared.len() >= 60,
        "found only {declared:?} in crates/server/src/config*"
    );
    let known = known();
    for name in &declared {
        assert!(
            known.contains(&name.as_str()),
            "{name} (crates/server/src/config*) is not in deploy/base/deployment.yaml: wire it \
             (and add it to CMD_PARAMS, SECRETS or FIXED in this file) or add it to NOT_WIRED \
             with a reason"
        );
    }
    // And nothing here that the server does not read (a typo would wire nothing).
    for name in known {
        assert!(
            declared.iter().any(|d| d == name),
            "{name} is listed here but the server does not read it"
        );
    }
}

/// The variables a component wires, checked on that component.
#[test]
fn component_variables_are_wired_by_their_component() {
    for (name, key, component) in IN_COMPONENTS {
        let Some(r) = render(&["testdata/upstream"], &["argocd", component], None) else {
            return;
        };
        let c = r.workload("Deployment", REPO_SERVER).container(REPO_SERVER);
        assert_cmd_param(c, name, key);
    }
}

#[test]
fn base_mounts_the_gpg_keys_and_a_writable_keyring() {
    let Some(r) = render_dir("base") else { return };
    let w = r.workload("Deployment", REPO_SERVER);
    let c = w.container(REPO_SERVER);
    let keys = mount_at(c, "/app/config/gpg/source");
    assert_eq!(keys.read_only, Some(true));
    let cm = w
        .volume(&keys.name)
        .config_map
        .as_ref()
        .expect("a ConfigMap");
    assert_eq!(cm.name, "argocd-gpg-keys-cm");
    let ring = mount_at(c, "/app/config/gpg/keys");
    assert_ne!(ring.read_only, Some(true), "gpg writes the keyring there");
    assert!(w.volume(&ring.name).empty_dir.is_some());
}

#[test]
fn base_probes_are_upstreams() {
    let Some(r) = render_dir("base") else { return };
    let w = r.workload("Deployment", REPO_SERVER);
    let c = w.container(REPO_SERVER);

    let live = c.liveness_probe.as_ref().expect("liveness probe");
    let get = live.http_get.as_ref().expect("liveness httpGet");
    assert_eq!(get.path.as_deref(), Some("/healthz?full=true"));
    assert_eq!(get.port, IntOrString::Int(8084));
    assert_eq!(live.initial_delay_seconds, Some(30));
    assert_eq!(live.period_seconds, Some(30));
    assert_eq!(live.failure_threshold, Some(3));
    assert_eq!(live.timeout_seconds, Some(5));

    let ready = c.readiness_probe.as_ref().expect("readiness probe");
    let get = ready.http_get.as_ref().expect("readiness httpGet");
    assert_eq!(get.path.as_deref(), Some("/healthz"));
    assert_eq!(get.port, IntOrString::Int(8084));
    assert_eq!(ready.initial_delay_seconds, Some(5));
    assert_eq!(ready.period_seconds, Some(10));
}

#[test]
fn base_mounts_optional_certificate_secrets_as_directories() {
    let Some(r) = render_dir("base") else { return };
    let w = r.workload("Deployment", REPO_SERVER);
    let c = w.container(REPO_SERVER);

    let tls = w
        .volume(TLS_SECRET)
        .secret
        .as_ref()
        .expect("tls is a Secret volume");
    assert_eq!(tls.secret_name.as_deref(), Some(TLS_SECRET));
    assert_eq!(tls.optional, Some(true));
    assert_eq!(
        items(&tls.items),
        [
            ("tls.crt", "tls.crt"),
            ("tls.key", "tls.key"),
            ("ca.crt", "ca.crt")
        ]
    );
    let mount = mount_at(c, TLS_PATH);
    assert_eq!(mount.name, TLS_SECRET);
    assert_eq!(mount.read_only, Some(true));

    let mtls = w
        .volume(MTLS_SECRET)
        .secret
        .as_ref()
        .expect("mtls is a Secret volume");
    assert_eq!(mtls.secret_name.as_deref(), Some(MTLS_SECRET));
    assert_eq!(mtls.optional, Some(true));
    assert_eq!(
        items(&mtls.items),
        [
            ("client-ca.crt", "client-ca.crt"),
            ("client-crl.pem", "client-crl.pem")
        ]
    );
    let mount = mount_at(c, MTLS_PATH);
    assert_eq!(mount.name, MTLS_SECRET);
    assert_eq!(mount.read_only, Some(true));

    for m in mounts(c) {
        assert!(m.sub_path.is_none(), "{} uses subPath", m.name);
    }
    // Nothing else of the certificate Secrets reaches the pod.
    let secrets: Vec<&str> = w
        .volumes()
        .iter()
        .flat_map(secret_sources)
        .map(|s| s.name)
        .collect();
    assert_eq!(secrets, [TLS_SECRET, MTLS_SECRET]);
}

#[test]
fn base_is_hardened_with_writable_scratch_cache_and_keyring() {
    let Some(r) = render_dir("base") else { return };
    let w = r.workload("Deployment", REPO_SERVER);
    crate::support::invariants::hardened(&w);
    let c = w.container(REPO_SERVER);
    // Every writable place is an emptyDir; everything else is read-only.
    for m in mounts(c) {
        let volume = w.volume(&m.name);
        if volume.empty_dir.is_none() {
            assert_eq!(
                m.read_only,
                Some(true),
                "{} should be read-only",
                m.mount_path
            );
        }
    }
    let writable: Vec<&str> = mounts(c)
        .iter()
        .filter(|m| w.volume(&m.name).empty_dir.is_some())
        .map(|m| m.mount_path.as_str())
        .collect();
    assert_eq!(writable, ["/app/config/gpg/keys", "/tmp", "/app/cache"]);
}

/// (name, protocol, port, target port)
type ServicePortView<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    i32,
    Option<&'a IntOrString>,
);

#[test]
fn base_service_exposes_upstreams_ports() {
    let Some(r) = render_dir("base") else { return };
    let spec = r.service(REPO_SERVER).spec.as_ref().expect("service spec");
    assert_eq!(spec.selector.as_ref(), Some(&selector()));
    let ports: Vec<ServicePortView<'_>> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.as_deref(),
                p.protocol.as_deref(),
                p.port,
                p.target_port.as_ref(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            (
                Some("server"),
                Some("TCP"),
                8081,
                Some(&IntOrString::Int(8081))
            ),
            (
                Some("metrics"),
                Some("TCP"),
                8084,
                Some(&IntOrString::Int(8084))
            ),
        ]
    );
}

#[test]
fn base_network_policy_admits_grpc_only_from_argo_cd_components() {
    let Some(r) = render_dir("base") else { return };
    let spec = r
        .network_policy("argocd-repo-server-network-policy")
        .spec
        .as_ref()
        .expect("policy spec");
    assert_eq!(
        spec.pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref()),
        Some(&selector())
    );
    assert!(spec
        .pod_selector
        .as_ref()
        .unwrap()
        .match_expressions
        .is_none());
    assert_eq!(
        spec.policy_types.as_deref(),
        Some(&["Ingress".to_string()][..])
    );
    assert!(spec.egress.is_none());

    let rules = spec.ingress.as_deref().expect("ingress rules");
    assert_eq!(rules.len(), 2);
    let ports = |i: usize| -> Vec<(Option<&str>, Option<&IntOrString>)> {
        rules[i]
            .ports
            .iter()
            .flatten()
            .map(|p| (p.protocol.as_deref(), p.port.as_ref()))
            .collect()
    };

    // gRPC: exactly the four components, by upstream's pod label, in this namespace only.
    assert_eq!(ports(0), [(Some("TCP"), Some(&IntOrString::Int(8081)))]);
    let mut peers: Vec<String> = Vec::new();
    for peer in rules[0].from.as_deref().expect("gRPC peers") {
        assert!(
            peer.namespace_selector.is_none() && peer.ip_block.is_none(),
            "{peer:?}"
        );
        let selector = peer.pod_selector.as_ref().expect("pod selector");
        assert!(selector.match_expressions.is_none());
        let labels = selector.match_labels.as_ref().expect("match labels");
        assert_eq!(labels.len(), 1, "{labels:?}");
        peers.push(labels["app.kubernetes.io/name"].clone());
    }
    peers.sort();
    assert_eq!(
        peers,
        [
            "argocd-application-controller",
            "argocd-applicationset-controller",
            "argocd-notifications-controller",
            "argocd-server",
        ]
    );

    // Health and metrics: any pod of any namespace.
    assert_eq!(ports(1), [(Some("TCP"), Some(&IntOrString::Int(8084)))]);
    let from = rules[1].from.as_deref().expect("metrics peers");
    assert_eq!(from.len(), 1);
    let all = from[0]
        .namespace_selector
        .as_ref()
        .expect("namespace selector");
    assert!(
        all.match_labels.is_none() && all.match_expressions.is_none(),
        "must select all"
    );
    assert!(from[0].pod_selector.is_none());
}
