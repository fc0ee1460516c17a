//! The example plugins of deploy/components/plugins, their plugin.yaml files as shipped, run
//! by our argocd-cmp-server sidecars and picked by our repo-server's discovery: envsubst
//! (sh, perl) and helm with a kustomize post-renderer (the real helm and kustomize).

#[path = "support/repos.rs"]
mod repos;
#[path = "support/sidecars.rs"]
mod sidecars;
mod support;

use std::path::{Path, PathBuf};

use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{ApplicationSource, ApplicationSourcePlugin, EnvEntry};
use repos::{client_with, objects, repo_message, repository};
use serde_json::json;
use sidecars::Sidecars;

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/components/plugins")
        .join(path)
}

fn request(url: &str, path: &str, env: &[(&str, &str)]) -> ManifestRequest {
    let plugin = (!env.is_empty()).then(|| ApplicationSourcePlugin {
        env: env
            .iter()
            .map(|(name, value)| EnvEntry {
                name: Some(name.to_string()),
                value: Some(value.to_string()),
            })
            .collect(),
        ..Default::default()
    });
    ManifestRequest {
        repo: repo_message(url),
        revision: "HEAD".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        kube_version: "1.30.2".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some("HEAD".into()),
            plugin,
            ..Default::default()
        }),
        no_cache: true,
        ..Default::default()
    }
}

const TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
data:
  text: "${ARGOCD_ENV_GREETING}, $ARGOCD_ENV_WHO"
  unset: "[${ARGOCD_ENV_NOPE}]"
  kept: "$HOME ${ARGOCD_APP_NAME} $$"
"#;

const CHART: &str = "apiVersion: v2\nname: web\nversion: 1.0.0\n";
const TEMPLATE_CM: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
  namespace: {{ .Release.Namespace }}
data:
  kube: "{{ .Capabilities.KubeVersion.Version }}"
"#;
const KUSTOMIZATION: &str = r#"resources:
  - all.yaml
labels:
  - pairs:
      post-rendered: "yes"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_plugins_render_as_documented() {
    let Some([helm, kustomize, perl]) = repo_testkit::tools(["helm", "kustomize", "perl"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(
        dir.path(),
        "origin",
        &[
            ("apps/env/cm.yaml.envsubst", TEMPLATE),
            ("apps/chart/Chart.yaml", CHART),
            ("apps/chart/templates/cm.yaml", TEMPLATE_CM),
            ("apps/chart/kustomization.yaml", KUSTOMIZATION),
        ],
    );
    // The sidecars find the tools on PATH, as in the image; helm keeps its state in /tmp.
    let mut path: Vec<PathBuf> = [&helm, &kustomize, &perl]
        .iter()
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    let path = std::env::join_paths(path).unwrap();
    let path = path.to_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    let mut sidecars = Sidecars::new();
    let envsubst = std::fs::read_to_string(example("envsubst/plugin.yaml")).unwrap();
    sidecars.add(&envsubst, &[("PATH", path)]);
    // The post-renderer is mounted at /home/argocd/cmp-server/config in the pod.
    let helm_kustomize = std::fs::read_to_string(example("helm-kustomize/plugin.yaml"))
        .unwrap()
        .replace(
            "/home/argocd/cmp-server/config/post-renderer.sh",
            example("helm-kustomize/post-renderer.sh").to_str().unwrap(),
        );
    sidecars.add(
        &helm_kustomize,
        &[
            ("PATH", path),
            ("HELM_CACHE_HOME", &format!("{home}/cache")),
            ("HELM_CONFIG_HOME", &format!("{home}/config")),
            ("HELM_DATA_HOME", &format!("{home}/data")),
        ],
    );
    let mut engine = support::engine();
    engine.plugins.socket_dir = sidecars.plugins();
    let (_server, mut c) = client_with(dir.path(), engine).await;

    // Discovery by file name; only the Application's own variables are substituted.
    let answer = c
        .generate_manifest(request(
            &url,
            "apps/env",
            &[("GREETING", "hello"), ("WHO", "$ARGOCD_APP_NAME")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Plugin");
    let rendered = objects(&answer.manifests);
    assert_eq!(rendered.len(), 1, "{:?}", answer.manifests);
    assert_eq!(
        rendered[0]["data"],
        json!({"text": "hello, web", "unset": "[]", "kept": "$HOME ${ARGOCD_APP_NAME} $$"})
    );

    // Discovery by command: a chart with a kustomization, helm's output post-rendered.
    let answer = c
        .generate_manifest(request(&url, "apps/chart", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Plugin");
    let rendered = objects(&answer.manifests);
    assert_eq!(rendered.len(), 1, "{:?}", answer.manifests);
    let cm = &rendered[0];
    assert_eq!(cm["metadata"]["name"], "web-cm");
    assert_eq!(cm["metadata"]["namespace"], "prod");
    assert_eq!(cm["metadata"]["labels"]["post-rendered"], "yes");
    assert_eq!(cm["data"]["kube"], "v1.30.2");
}
