//! Helm charts from the repository: value precedence, parameters, file parameters, CRDs,
//! tests, dependencies; output compared with what upstream generates.

use std::path::Path;

use repo_proto::k8s::io::apimachinery::pkg::runtime::RawExtension;
use repo_proto::v1alpha1::{ApplicationSourceHelm, HelmFileParameter, HelmParameter};
use repo_render::{Error, SourceType};
use serde_json::json;

use crate::common::{have, Repo, Request};

const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  namespace: {{ .Release.Namespace }}
data:
  replicas: {{ .Values.replicaCount | quote }}
  tier: {{ .Values.tier | quote }}
  region: {{ .Values.region | quote }}
  inline: {{ .Values.inline | quote }}
  tag: {{ .Values.tag | quote }}
  list: {{ .Values.list | quote }}
  script: {{ .Values.script | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  widgets: {{ .Capabilities.APIVersions.Has "example.com/v1" | quote }}
  revision: {{ .Values.revision | quote }}
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: "nginx:{{ .Values.tag }}"
"#;

const TEST_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  containers:
  - name: t
    image: busybox
"#;

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    plural: widgets\n  scope: Namespaced\n  versions: []\n";

fn repo() -> Repo {
    let repo = Repo::new();
    repo.file("apps/chart/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n")
        .file("apps/chart/values.yaml", "replicaCount: 1\ntier: default\nregion: none\ninline: none\ntag: latest\nlist: none\nscript: none\nrevision: none\n")
        .file("apps/chart/values-prod.yaml", "replicaCount: 2\ntier: prod\n")
        .file("apps/chart/values-zz.yaml", "region: zz\n")
        .file("envs/common.yaml", "tier: common\nregion: eu\n")
        .file("apps/chart/files/script.sh", "echo hi")
        .file("apps/chart/templates/configmap.yaml", CONFIGMAP)
        .file("apps/chart/templates/deployment.yaml", DEPLOYMENT)
        .file("apps/chart/templates/tests/test.yaml", TEST_POD)
        .file("apps/chart/crds/widgets.yaml", CRD);
    repo
}

fn param(name: &str, value: &str, force_string: bool) -> HelmParameter {
    HelmParameter {
        name: Some(name.into()),
        value: Some(value.into()),
        force_string: Some(force_string),
    }
}

fn spec() -> ApplicationSourceHelm {
    ApplicationSourceHelm {
        value_files: vec![
            "values-prod.yaml".into(),
            "/envs/common.yaml".into(),
            "values-z*.yaml".into(),
            "missing.yaml".into(),
        ],
        ignore_missing_value_files: Some(true),
        values: Some("inline: from-values\n".into()),
        values_object: Some(RawExtension {
            raw: Some(br#"{"inline": "from-object", "tier": "object"}"#.to_vec()),
        }),
        parameters: vec![
            param("tier", "param", false),
            param("tag", "1.10", true),
            param("list", "a,b", false),
            param("revision", "$ARGOCD_APP_REVISION_SHORT_8", true),
        ],
        file_parameters: vec![HelmFileParameter {
            name: Some("script".into()),
            path: Some("files/script.sh".into()),
        }],
        skip_tests: Some(true),
        api_versions: vec!["example.com/v1".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn chart_with_values_and_parameters() {
    let repo = repo();
    let mut req = Request::new(&repo, "apps/chart");
    if !have(req.tools.helm.as_ref(), "helm") {
        return;
    }
    req.namespace = "prod".into();
    req.source.helm = Some(spec());
    let rendered = req.render().await.unwrap();
    assert_eq!(rendered.source_type, SourceType::Helm);
    let track = |group: &str, kind: &str, name: &str| json!({"argocd.argoproj.io/tracking-id": format!("guestbook:{group}/{kind}:prod/{name}")});
    assert_eq!(
        crate::common::parse(&rendered.manifests),
        vec![
            // CRDs come first and carry no tracking.
            serde_json::from_str::<serde_json::Value>(
                r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
                    "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced", "versions": []}}"#
            )
            .unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "guestbook-config", "namespace": "prod", "annotations": track("", "ConfigMap", "guestbook-config")},
                "data": {"replicas": "2", "tier": "param", "region": "zz", "inline": "from-object", "tag": "1.10", "list": "a,b",
                    "script": "echo hi", "kube": "v1.30.0", "widgets": "true", "revision": "01234567"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "guestbook-web", "annotations": track("apps", "Deployment", "guestbook-web")},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.10"}]}}}}),
        ]
    );
    assert_eq!(
        rendered.commands,
        ["helm template . --name-template guestbook --namespace prod --kube-version 1.30 \
          --set list=a\\,b --set tier=param --set-string revision=01234567 --set-string tag=1.10 \
          --set-file script=./apps/chart/files/script.sh \
          --values ./apps/chart/values-prod.yaml --values ./envs/common.yaml --values ./apps/chart/values-zz.yaml \
          --values <temp file with source.helm.values/valuesObject> \
          --api-versions example.com/v1 --include-crds --skip-tests"]
    );
}

#[tokio::test]
async fn missing_value_file_is_not_found() {
    let repo = repo();
    let mut req = Request::new(&repo, "apps/chart");
    req.source.helm = Some(ApplicationSourceHelm {
        value_files: vec!["nope.yaml".into()],
        ..Default::default()
    });
    let err = req.render().await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref path } if path == "nope.yaml"),
        "{err}"
    );
}

#[tokio::test]
async fn chart_yaml_is_detected_and_skip_crds_applies() {
    let repo = repo();
    let mut req = Request::new(&repo, "apps/chart");
    if !have(req.tools.helm.as_ref(), "helm") {
        return;
    }
    req.label_key = String::new();
    let kinds = |objs: Vec<serde_json::Value>| {
        objs.iter()
            .map(|o| o["kind"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(req.objects().await),
        ["CustomResourceDefinition", "ConfigMap", "Deployment", "Pod"]
    );
    req.source.helm = Some(ApplicationSourceHelm {
        skip_crds: Some(true),
        ..Default::default()
    });
    assert_eq!(
        kinds(req.objects().await),
        ["ConfigMap", "Deployment", "Pod"]
    );
}

/// A wrapper that logs each helm invocation, to count dependency builds.
fn logging_helm(real: &Path, dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("helm.log");
    let wrapper = dir.join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$1 $2\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

#[tokio::test]
async fn dependencies_are_built_once_per_content() {
    let repo = Repo::new();
    repo.file(
        "charts/umbrella/Chart.yaml",
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://../sub\n",
    )
    .file("charts/umbrella/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\n")
    .file("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n")
    .file("charts/sub/values.yaml", "greeting: hello\n")
    .file("charts/sub/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\ndata:\n  greeting: {{ .Values.greeting }}\n");
    let probe = Request::new(&repo, "charts/umbrella");
    let Some(real) = probe.tools.helm.clone() else {
        have(None, "helm");
        return;
    };
    let bin = tempfile::tempdir().unwrap();
    let wrapper = logging_helm(&real, bin.path());
    let scratch = tempfile::tempdir().unwrap();
    let before = repo.snapshot();
    for _ in 0..2 {
        let mut req = Request::new(&repo, "charts/umbrella");
        req.label_key = String::new();
        req.tools.helm = Some(wrapper.clone());
        req.tools.scratch = scratch.path().to_path_buf();
        // The wrapper's log is outside any request directory, where a confined helm cannot write.
        req.tools.sandbox = repo_render::Sandbox::Unavailable("the wrapper logs outside".into());
        let names: Vec<_> = req
            .objects()
            .await
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["sub", "top"]);
    }
    let log = std::fs::read_to_string(bin.path().join("helm.log")).unwrap();
    assert_eq!(
        log.lines().filter(|l| *l == "dependency build").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| *l == "template .").count(),
        2,
        "{log}"
    );
    assert_eq!(repo.snapshot(), before, "the shared snapshot changed");
}
