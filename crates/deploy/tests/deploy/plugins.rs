//! deploy/components/plugins (the sidecars' shared volumes and copyutil) and its examples, and
//! the image providing what upstream's copyutil copies. The examples' plugin definitions are
//! run for real by crates/server/tests/plugin_examples.rs.

use crate::support::invariants::check;
use crate::support::objects::Rendered;
use crate::support::pod::{mount_at, mounts};
use crate::support::setup::render;
use crate::support::{read, IMAGE, REPO_SERVER};

/// Upstream's copyutil command (manifests/base/repo-server/argocd-repo-server-deployment.yaml).
const COPYUTIL: &str = "/bin/cp /usr/local/bin/argocd /var/run/argocd/argocd && /bin/ln -sf /var/run/argocd/argocd /var/run/argocd/argocd-cmp-server";
const PLUGINS_DIR: &str = "/home/argocd/cmp-server/plugins";
const CONFIG_DIR: &str = "/home/argocd/cmp-server/config";
/// The example sidecars: (container, plugin name).
const EXAMPLES: [(&str, &str); 2] = [
    ("cmp-envsubst", "envsubst"),
    ("cmp-helm-kustomize", "helm-kustomize"),
];

fn emptydir(r: &Rendered, volume: &str) -> bool {
    r.workload("Deployment", REPO_SERVER)
        .volume(volume)
        .empty_dir
        .is_some()
}

#[test]
fn plugin_sidecars_are_wired_as_upstream_documents_them_and_hardened() {
    let components = [
        "argocd",
        "components/plugins",
        "components/plugins/envsubst",
        "components/plugins/helm-kustomize",
    ];
    let Some(r) = render(&["testdata/upstream"], &components, None) else {
        return;
    };
    // Unique names, mounts of existing volumes, no ConfigMap under subPath, and every
    // container of the pod (copyutil and the sidecars included) hardened as the repo-server.
    check(&r);
    let w = r.workload("Deployment", REPO_SERVER);
    let server = w.container(REPO_SERVER);
    assert_eq!(mount_at(server, PLUGINS_DIR).name, "plugins");
    assert!(emptydir(&r, "plugins") && emptydir(&r, "var-files"));

    let init = w.spec().init_containers.as_deref().unwrap_or_default();
    let copyutil = init
        .iter()
        .find(|c| c.name == "copyutil")
        .expect("copyutil");
    assert_eq!(copyutil.image.as_deref(), Some(IMAGE));
    assert_eq!(copyutil.command.as_deref().unwrap(), ["sh", "-c"]);
    assert_eq!(copyutil.args.as_deref().unwrap(), [COPYUTIL]);
    assert_eq!(mount_at(copyutil, "/var/run/argocd").name, "var-files");

    let server_tmp = mount_at(server, "/tmp").name.clone();
    let mut tmps = vec![server_tmp];
    for (container, plugin) in EXAMPLES {
        let c = w.container(container);
        assert_eq!(c.image.as_deref(), Some(IMAGE), "{container}");
        assert_eq!(
            c.command.as_deref().unwrap(),
            ["/var/run/argocd/argocd-cmp-server"],
            "{container}: upstream's entrypoint, copied by copyutil"
        );
        assert_eq!(mount_at(c, "/var/run/argocd").name, "var-files");
        assert_eq!(mount_at(c, PLUGINS_DIR).name, "plugins");
        // plugin.yaml from the example's ConfigMap, mounted as a directory.
        let config = mount_at(c, CONFIG_DIR);
        assert_eq!(config.read_only, Some(true));
        let map = w
            .volume(&config.name)
            .config_map
            .as_ref()
            .unwrap_or_else(|| panic!("{container}: config is not a ConfigMap"));
        let doc = r.document("ConfigMap", &map.name);
        let yaml = doc["data"]["plugin.yaml"]
            .as_str()
            .unwrap_or_else(|| panic!("{container}: no plugin.yaml"));
        let definition: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(definition["kind"], "ConfigManagementPlugin");
        assert_eq!(definition["metadata"]["name"], plugin);
        // A /tmp of its own: never the repo-server's nor another sidecar's.
        let tmp = mount_at(c, "/tmp").name.clone();
        assert!(emptydir(&r, &tmp), "{container}: /tmp is an emptyDir");
        assert!(!tmps.contains(&tmp), "{container}: /tmp {tmp} is shared");
        tmps.push(tmp);
        // Nothing of the repo-server's: no certificates, caches or credentials.
        for mount in mounts(c) {
            assert!(
                !mount.mount_path.starts_with("/app"),
                "{container}: {} mounted",
                mount.mount_path
            );
        }
    }
    // helm runs post-renderer.sh from the ConfigMap: mounted executable.
    let helm = w.container("cmp-helm-kustomize");
    let map = w
        .volume(&mount_at(helm, CONFIG_DIR).name)
        .config_map
        .as_ref()
        .unwrap();
    assert_eq!(map.default_mode, Some(0o555));
    assert!(r.document("ConfigMap", &map.name)["data"]["post-renderer.sh"].is_string());

    // The repo-server reads upstream's plugin keys.
    let env = server.env.as_deref().unwrap_or_default();
    for (name, key) in [
        (
            "ARGOCD_REPO_SERVER_PLUGIN_TAR_EXCLUSIONS",
            "reposerver.plugin.tar.exclusions",
        ),
        (
            "ARGOCD_REPO_SERVER_PLUGIN_USE_MANIFEST_GENERATE_PATHS",
            "reposerver.plugin.use.manifest.generate.paths",
        ),
    ] {
        let var = env.iter().find(|e| e.name == name).expect(name);
        let cm = var
            .value_from
            .as_ref()
            .and_then(|v| v.config_map_key_ref.as_ref())
            .expect(name);
        assert_eq!(
            (cm.name.as_str(), cm.key.as_str()),
            ("argocd-cmd-params-cm", key)
        );
    }
}

/// A sidecar patch as upstream's operator manual writes it (image ubuntu, plugin.yaml under
/// subPath, its own /tmp), unchanged.
const UPSTREAM_SIDECAR: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
spec:
  template:
    spec:
      containers:
      - name: my-plugin
        command: [/var/run/argocd/argocd-cmp-server]
        image: ubuntu
        securityContext:
          runAsNonRoot: true
          runAsUser: 999
        volumeMounts:
          - mountPath: /var/run/argocd
            name: var-files
          - mountPath: /home/argocd/cmp-server/plugins
            name: plugins
          - mountPath: /home/argocd/cmp-server/config/plugin.yaml
            subPath: plugin.yaml
            name: my-plugin-config
          - mountPath: /tmp
            name: cmp-tmp
      volumes:
      - configMap:
          name: my-plugin-config
        name: my-plugin-config
      - emptyDir: {}
        name: cmp-tmp
"#;

#[test]
fn an_upstream_sidecar_patch_works_unchanged_with_the_plugins_component() {
    let Some(r) = render(
        &["testdata/upstream"],
        &["argocd", "components/plugins"],
        Some(UPSTREAM_SIDECAR),
    ) else {
        return;
    };
    let w = r.workload("Deployment", REPO_SERVER);
    let names: Vec<&str> = w.volumes().iter().map(|v| v.name.as_str()).collect();
    let sidecar = w.container("my-plugin");
    for mount in mounts(sidecar) {
        assert!(
            names.contains(&mount.name.as_str()),
            "my-plugin mounts {}, which the pod lacks",
            mount.name
        );
    }
    assert!(w
        .spec()
        .init_containers
        .iter()
        .flatten()
        .any(|c| c.name == "copyutil"));

    // Without the component the same patch leaves the sidecar without its volumes: deploy/argocd
    // replaces upstream's repo-server, and with it upstream's var-files and plugins.
    let Some(r) = render(&["testdata/upstream"], &["argocd"], Some(UPSTREAM_SIDECAR)) else {
        return;
    };
    let w = r.workload("Deployment", REPO_SERVER);
    assert!(!w.volumes().iter().any(|v| v.name == "var-files"));
}

#[test]
fn the_image_provides_what_copyutil_copies() {
    let dockerfile = read("Dockerfile");
    // copyutil copies /usr/local/bin/argocd: the cmp-server, built statically (sidecar images
    // may have another libc) and linked there.
    let copied = COPYUTIL.split_whitespace().nth(1).expect("cp's source");
    assert_eq!(copied, "/usr/local/bin/argocd");
    assert!(
        dockerfile.contains(&format!("ln -s argocd-cmp-server {copied}")),
        "the image does not link {copied} to argocd-cmp-server"
    );
    assert!(dockerfile.contains("/out/argocd-cmp-server /usr/local/bin/"));
    assert!(dockerfile.contains("-p repo-cmp-server --bin argocd-cmp-server"));
    assert!(dockerfile.contains("+crt-static"));
    let manifest = read("crates/cmp-server/Cargo.toml");
    assert!(manifest.contains("name = \"repo-cmp-server\""));
    assert!(manifest.contains("name = \"argocd-cmp-server\""));
}
