//! Error messages name files relative to the repository, never by the server's own paths
//! (cache directory, snapshots, scratch): a render failing in each kind of place.

#[path = "support/repos.rs"]
mod repos;
mod support;

use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{ApplicationSource, ApplicationSourceDirectory};
use repos::*;

fn request(url: &str, path: &str, source: ApplicationSource) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: "main".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some("main".into()),
            ..source
        }),
        enabled_source_types: [("Directory".to_string(), true)].into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_renders_name_no_server_path() {
    let helm = tool("helm");
    let kustomize = tool("kustomize");
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(
        dir.path(),
        "origin",
        &[
            (
                "jsonnet/main.jsonnet",
                "local x = import 'lib.libsonnet'; x",
            ),
            ("jsonnet/lib.libsonnet", "{ a: error 'broken library' }"),
            ("jsonnet-missing/main.jsonnet", "import 'nowhere.libsonnet'"),
            ("yaml/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n"),
            (
                "chart/Chart.yaml",
                "apiVersion: v2\nname: c\nversion: 0.1.0\n",
            ),
            ("chart/templates/cm.yaml", "{{ include \"missing\" . }}\n"),
            ("chart/values.yaml", "a: 1\n"),
            ("deps/Chart.yaml", "apiVersion: v2\nname: d\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://../nowhere\n"),
            ("deps/templates/cm.yaml", "a: b\n"),
            ("kust/kustomization.yaml", "resources:\n- missing.yaml\n- ../nowhere\n"),
            ("kust2/kustomization.yaml", "resources:\n- cm.yaml\n"),
            ("kust2/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n"),
        ],
    );
    let (server, mut c) = client(dir.path()).await;
    let mut cases = vec![
        ("yaml", ApplicationSource::default()),
        (
            "yaml",
            ApplicationSource {
                directory: Some(ApplicationSourceDirectory {
                    include: Some("[".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    ];
    if helm {
        cases.push(("chart", ApplicationSource::default()));
        cases.push(("deps", ApplicationSource::default()));
    }
    if kustomize {
        cases.push(("kust", ApplicationSource::default()));
        cases.push(("kust2", ApplicationSource::default()));
    }
    // support::engine() puts the cache in a temporary directory of this prefix.
    let cache = "repo-server-test";
    for (path, source) in cases {
        let err = c
            .generate_manifest(request(&url, path, source))
            .await
            .unwrap_err();
        let message = err.message();
        eprintln!("{path}: {message}");
        assert!(!message.contains(cache), "{path}: {message}");
        assert!(!message.contains("/snapshots/"), "{path}: {message}");
        assert!(!message.contains("/scratch/"), "{path}: {message}");
    }
    server.stop().await.unwrap();
}
