//! Directory apps: plain YAML/JSON and Jsonnet, compared with what upstream generates.

use repo_proto::v1alpha1::{ApplicationSourceDirectory, ApplicationSourceJsonnet, JsonnetVar};
use repo_render::{Error, SourceType};
use serde_json::json;

use crate::common::{tracking_id, Repo, Request};

fn plain_repo() -> Repo {
    let repo = Repo::new();
    repo.file(
        "app/cm-list.yaml",
        "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n  data:\n    k: v\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n    namespace: other\n",
    )
    .file(
        "app/multi.yaml",
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app.kubernetes.io/instance: stale\nspec:\n  ports:\n  - port: 80\n---\n# only a comment\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  enabled: yes\n  mode: 0644\n  ratio: 1.0\n  when: 2024-01-02\n",
    )
    .file("app/config.json", r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"x": "1"}}"#)
    .file("app/settings.json", r#"{"logLevel": "debug"}"#)
    .file("app/notes.txt", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: txt\n")
    .file("app/skip.yaml", "# +argocd:skip-file-rendering\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skipped\n")
    .file("app/values.yaml", "replicas: 3\nimage: nginx\n")
    .file("app/sub/nested.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nested\n")
    .file("app/.hidden/h.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hidden\n");
    repo
}

fn ann(name: &str, kind: &str, ns: &str, group: &str) -> serde_json::Value {
    tracking_id(group, kind, ns, name)
}

#[tokio::test]
async fn plain_directory() {
    let repo = plain_repo();
    let req = Request::new(&repo, "app");
    let rendered = req.render().await.unwrap();
    assert_eq!(rendered.source_type, SourceType::Directory);
    assert!(rendered.commands.is_empty());
    assert_eq!(
        crate::common::parse(&rendered.manifests),
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "annotations": ann("a", "ConfigMap", "default", "")}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "other", "annotations": ann("b", "ConfigMap", "other", "")}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "annotations": ann("s", "Secret", "default", "")}, "stringData": {"x": "1"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"app.kubernetes.io/instance": "stale"}, "annotations": ann("web", "Service", "default", "")}, "spec": {"ports": [{"port": 80}]}}),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "annotations": ann("w", "Widget", "default", "example.com")},
                "spec": {"enabled": true, "mode": 420, "ratio": 1, "when": "2024-01-02"}}),
        ]
    );
    // Compact JSON with sorted keys, as Go writes it.
    assert_eq!(
        rendered.manifests[0],
        r#"{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"annotations":{"argocd.argoproj.io/tracking-id":"guestbook:/ConfigMap:default/a"},"name":"a"}}"#
    );
}

#[tokio::test]
async fn recurse_walks_hidden_directories_too() {
    let repo = plain_repo();
    let mut req = Request::new(&repo, "app");
    req.label_key = String::new(); // no tracking, to keep the expectation short
    req.source.directory = Some(ApplicationSourceDirectory {
        recurse: Some(true),
        ..Default::default()
    });
    let names: Vec<_> = req
        .objects()
        .await
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    // Walk order is lexical by file name, depth first, like filepath.Walk.
    assert_eq!(names, ["hidden", "a", "b", "s", "web", "w", "nested"]);
}

#[tokio::test]
async fn include_and_exclude_globs() {
    let repo = plain_repo();
    let mut req = Request::new(&repo, "app");
    req.label_key = String::new();
    req.source.directory = Some(ApplicationSourceDirectory {
        recurse: Some(true),
        include: Some("{*.yml,*list.yaml,config.json}".into()),
        exclude: Some("config.*".into()),
        ..Default::default()
    });
    let names: Vec<_> = req
        .objects()
        .await
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b", "nested"]);
}

#[tokio::test]
async fn tracking_methods() {
    let repo = Repo::new();
    repo.file(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    for (method, key, id, want) in [
        (
            "label",
            "team/app",
            "",
            json!({"name": "c", "labels": {"team/app": "guestbook"}}),
        ),
        (
            "annotation+label",
            "app.kubernetes.io/instance",
            "inst",
            json!({"name": "c", "labels": {"app.kubernetes.io/instance": "guestbook"},
                "annotations": {"argocd.argoproj.io/tracking-id": "guestbook:/ConfigMap:default/c", "argocd.argoproj.io/installation-id": "inst"}}),
        ),
        (
            "annotation",
            "app.kubernetes.io/instance",
            "",
            json!({"name": "c", "annotations": {"argocd.argoproj.io/tracking-id": "guestbook:/ConfigMap:default/c"}}),
        ),
    ] {
        let mut req = Request::new(&repo, "app");
        req.method = method.into();
        req.label_key = key.into();
        req.installation_id = id.into();
        assert_eq!(req.objects().await[0]["metadata"], want, "{method}");
    }
}

#[tokio::test]
async fn broken_manifests_fail_and_unrelated_yaml_is_ignored() {
    let repo = Repo::new();
    repo.file(
        "ok/unrelated.yaml",
        "just: [some, config]\n---\nkind: ConfigMap\n",
    );
    assert!(Request::new(&repo, "ok").objects().await.is_empty());

    repo.file(
        "bad/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    );
    let err = Request::new(&repo, "bad").render().await.unwrap_err();
    assert!(
        matches!(err, Error::Parse { ref file, .. } if file == "bad/broken.yaml"),
        "{err}"
    );

    repo.file(
        "late/x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nfoo: bar\n",
    );
    let err = Request::new(&repo, "late").render().await.unwrap_err();
    assert!(matches!(err, Error::Parse { .. }), "{err}");

    repo.file("two/x.json", "{\"kind\": \"A\"}\n{\"kind\": \"B\"}\n");
    let err = Request::new(&repo, "two").render().await.unwrap_err();
    assert!(matches!(err, Error::Parse { .. }), "{err}");
}

#[tokio::test]
async fn combined_size_is_capped() {
    let repo = plain_repo();
    let mut req = Request::new(&repo, "app");
    req.tools.max_directory_bytes = 100;
    let err = req.render().await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 100, .. }), "{err}");
}

fn jsonnet_repo() -> Repo {
    let repo = Repo::new();
    repo.file(
        "lib/util.libsonnet",
        "{ labels(team):: { team: team, 'app.kubernetes.io/part-of': 'shop' } }\n",
    )
    .file(
        "vendor/util.libsonnet",
        "{ labels(team):: error 'later libs are searched first' }\n",
    )
    .file(
        "app/main.jsonnet",
        r#"local util = import 'util.libsonnet';
function(name, replicas=1) [
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: name, labels: util.labels(std.extVar('team')) },
    data: { replicas: std.toString(replicas), rev: std.extVar('rev'), path: std.thisFile },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: name + '-svc' },
    spec: { ports: [{ port: std.extVar('port') }] },
  },
  null,
]
"#,
    )
    .file(
        "app/ns.jsonnet",
        "{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns-' + std.extVar('team') } }\n",
    )
    .file("app/helper.libsonnet", "{ ignored: true }\n");
    repo
}

fn var(name: &str, value: &str, code: bool) -> JsonnetVar {
    JsonnetVar {
        name: Some(name.into()),
        value: Some(value.into()),
        code: Some(code),
    }
}

#[tokio::test]
async fn jsonnet_with_tlas_ext_vars_and_libs() {
    let repo = jsonnet_repo();
    let mut req = Request::new(&repo, "app");
    req.label_key = String::new();
    req.source.directory = Some(ApplicationSourceDirectory {
        jsonnet: Some(ApplicationSourceJsonnet {
            ext_vars: vec![
                var("team", "payments", false),
                var("rev", "$ARGOCD_APP_REVISION_SHORT", false),
                var("port", "8000 + 80", true),
            ],
            tlas: vec![var("name", "web", false), var("replicas", "1 + 2", true)],
            libs: vec!["vendor".into(), "/lib".into()],
        }),
        ..Default::default()
    });
    assert_eq!(
        req.objects().await,
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "web", "labels": {"team": "payments", "app.kubernetes.io/part-of": "shop"}},
                "data": {"replicas": "3", "rev": "0123456", "path": "app/main.jsonnet"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc"}, "spec": {"ports": [{"port": 8080}]}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-payments"}}),
        ]
    );
}

#[tokio::test]
async fn jsonnet_errors_and_disabling() {
    let repo = jsonnet_repo();
    let mut req = Request::new(&repo, "app");
    // Without the ext vars the evaluation fails, naming the file relative to the repository.
    let err = req.render().await.unwrap_err();
    let Error::Parse { file, message } = &err else {
        panic!("{err}")
    };
    assert_eq!(file, "app/main.jsonnet");
    assert!(
        !message.contains(&repo.root().display().to_string()),
        "{message}"
    );

    // jsonnet.enable=false maps to enabledSourceTypes[Directory]=false: files are skipped.
    req.enabled.insert("Directory".into(), false);
    assert!(req.objects().await.is_empty());
}
