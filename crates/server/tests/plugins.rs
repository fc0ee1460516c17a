//! Config management plugins end to end: our repo-server against our `argocd-cmp-server`
//! sidecars over real unix sockets in a shared plugins directory, on git repositories.

#[path = "support/repos.rs"]
mod repos;
#[path = "support/sidecars.rs"]
mod sidecars;
mod support;

use std::collections::HashMap;
use std::path::Path;

use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourcePlugin, ApplicationSourcePluginParameter, EnvEntry,
    OptionalMap,
};
use repos::{client_with, objects, repo_message, repository};
use sidecars::{definition, Sidecars};
use tonic::Code;

/// A plugin that answers one ConfigMap holding what it was told and what it sees.
const REPORTER: &str = r#"  generate:
    command: [sh, -c]
    args:
      - |
        cat <<EOF
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: report
        data:
          app: "$ARGOCD_APP_NAME"
          namespace: "$ARGOCD_APP_NAMESPACE"
          revision_short: "$ARGOCD_APP_REVISION_SHORT"
          path: "$ARGOCD_APP_SOURCE_PATH"
          kube: "$KUBE_VERSION"
          apis: "$KUBE_API_VERSIONS"
          foo: "$ARGOCD_ENV_FOO"
          raw_foo: "${FOO:-unset}"
          param: "$PARAM_IMAGE_TAG"
          param_map: "$PARAM_LABELS_TEAM"
          parameters: '$ARGOCD_APP_PARAMETERS'
          files: "$(find . -type f | sort | tr '\n' ' ')"
          sibling: "$(cat ../shared/s.txt 2>/dev/null)"
          top: "$(test -e ../../top.yaml && echo full || echo subset)"
        EOF
"#;

fn source(url: &str, path: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: Some(url.to_string()),
        path: Some(path.to_string()),
        target_revision: Some("HEAD".into()),
        ..Default::default()
    }
}

fn named(name: &str) -> Option<ApplicationSourcePlugin> {
    Some(ApplicationSourcePlugin {
        name: Some(name.to_string()),
        ..Default::default()
    })
}

fn request(url: &str, path: &str, plugin: Option<ApplicationSourcePlugin>) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: "HEAD".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation+label".into(),
        kube_version: "v1.30.2-gke.1".into(),
        api_versions: vec!["v1".into(), "apps/v1".into()],
        application_source: Some(ApplicationSource {
            plugin,
            ..source(url, path)
        }),
        no_cache: true,
        ..Default::default()
    }
}

/// The report ConfigMap's data.
fn report(manifests: &[String]) -> HashMap<String, String> {
    let objects = objects(manifests);
    assert_eq!(objects.len(), 1, "{manifests:?}");
    serde_json::from_value(objects[0]["data"].clone()).unwrap()
}

/// A repository: an app under `apps/a` beside a `shared` directory, a file at the top.
fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "top.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: top\n",
        ),
        (
            "apps/a/cm.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: a\n",
        ),
        ("apps/a/b.secret", "s3cret\n"),
        ("apps/shared/s.txt", "shared"),
    ]
}

/// The server with its plugins directory at `sidecars`, after `change` to its settings.
async fn server(
    dir: &Path,
    sidecars: &Sidecars,
    change: impl FnOnce(&mut repo_server::config::Engine),
) -> (
    repo_server::Running,
    repo_client::RepoServerServiceClient<tonic::transport::Channel>,
) {
    let mut engine = support::engine();
    engine.plugins.socket_dir = sidecars.plugins();
    change(&mut engine);
    client_with(dir, engine).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_plugin_that_does_not_exist_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let sidecars = Sidecars::new();
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    let err = c
        .generate_manifest(request(&url, "apps/a", named("nope")))
        .await
        .unwrap_err();
    let text = err.message();
    assert!(text.contains("\"nope\""), "{text}");
    assert!(
        text.contains(&sidecars.plugins().join("nope.sock").display().to_string()),
        "{text}"
    );
    // Never rendered as plain YAML instead.
    assert_ne!(err.code(), Code::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_plugin_renders_with_upstreams_environment_and_tracking() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let mut sidecars = Sidecars::new();
    sidecars.add(&definition("reporter", REPORTER), &[("FOO", "sidecar")]);
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    let plugin = ApplicationSourcePlugin {
        name: Some("reporter".into()),
        env: vec![EnvEntry {
            name: Some("FOO".into()),
            value: Some("${ARGOCD_APP_NAME}-$KUBE_VERSION".into()),
        }],
        parameters: vec![
            ApplicationSourcePluginParameter {
                name: Some("image-tag".into()),
                string: Some("v1".into()),
                ..Default::default()
            },
            ApplicationSourcePluginParameter {
                name: Some("labels".into()),
                map: Some(OptionalMap {
                    map: [("team".to_string(), "blue".to_string())].into(),
                }),
                ..Default::default()
            },
        ],
    };
    let answer = c
        .generate_manifest(request(&url, "apps/a", Some(plugin)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Plugin");
    assert!(answer.commands.is_empty());
    let object = &objects(&answer.manifests)[0];
    assert_eq!(
        object["metadata"]["labels"]["app.kubernetes.io/instance"], "web",
        "tracking applied as for built-in tools"
    );
    assert!(object["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"].is_string());
    let data = report(&answer.manifests);
    assert_eq!(data["app"], "web");
    assert_eq!(data["namespace"], "prod");
    assert_eq!(data["revision_short"].len(), 7);
    assert_eq!(data["path"], "apps/a");
    assert_eq!(data["kube"], "1.30.2", "parsed as upstream");
    assert_eq!(data["apis"], "v1,apps/v1");
    assert_eq!(
        data["foo"], "web-1.30.2",
        "ARGOCD_ENV_ prefixed, substituted"
    );
    assert_eq!(
        data["raw_foo"], "sidecar",
        "the user's FOO is not the sidecar's"
    );
    assert_eq!(data["param"], "v1");
    assert_eq!(data["param_map"], "blue");
    assert_eq!(
        data["parameters"],
        r#"[{"name":"image-tag","string":"v1"},{"map":{"team":"blue"},"name":"labels"}]"#
    );
    assert_eq!(data["top"], "full", "the whole repository is sent");
    assert!(data["files"].contains("./b.secret"), "{}", data["files"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_files_and_the_generate_paths_subset_are_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let mut sidecars = Sidecars::new();
    sidecars.add(&definition("reporter", REPORTER), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |e| {
        // Relative to the directory sent: `apps` with the annotation below.
        e.plugins.tar_exclude = vec!["a/*.secret".into()];
        e.plugins.use_generate_paths = true;
    })
    .await;
    let mut req = request(&url, "apps/a", named("reporter"));
    req.annotation_manifest_generate_paths = ".;../shared".into();
    let data = report(
        &c.generate_manifest(req)
            .await
            .unwrap()
            .into_inner()
            .manifests,
    );
    assert_eq!(data["files"], "./cm.yaml ", "b.secret excluded");
    assert_eq!(data["sibling"], "shared", "the annotation's paths are sent");
    assert_eq!(data["top"], "subset", "nothing above their common root");
    // Without the annotation, the whole repository, as upstream.
    let req = request(&url, "apps/a", named("reporter"));
    let data = report(
        &c.generate_manifest(req)
            .await
            .unwrap()
            .into_inner()
            .manifests,
    );
    assert_eq!(data["top"], "full");
    assert!(
        data["files"].contains("b.secret"),
        "apps/a/b.secret is not a/*.secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_comes_before_built_in_detection_and_a_miss_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = files();
    files.extend([
        // A Helm chart a plugin's file name claims.
        (
            "apps/chart/Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 1.0.0\n",
        ),
        ("apps/chart/values.envsubst", "x"),
        // A kustomization a plugin's command claims.
        ("apps/kust/kustomization.yaml", "resources: []\n"),
        ("apps/kust/special", ""),
        // Plain YAML a plugin's file name claims, unless the source names a type.
        (
            "apps/dir/cm.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: d\n",
        ),
        ("apps/dir/x.envsubst", ""),
    ]);
    let (_, url) = repository(dir.path(), "origin", &files);
    let mut sidecars = Sidecars::new();
    let by_file = "  discover:\n    fileName: \"*.envsubst\"\n";
    let by_command =
        "  discover:\n    find:\n      command: [sh, -c, 'test -f special && echo yes']\n";
    sidecars.add(&definition("by-file", &format!("{by_file}{REPORTER}")), &[]);
    sidecars.add(
        &definition("by-command", &format!("{by_command}{REPORTER}")),
        &[],
    );
    // Without discovery: only ever used by name.
    sidecars.add(&definition("a-first", REPORTER), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    for app in ["apps/chart", "apps/kust"] {
        let answer = c
            .generate_manifest(request(&url, app, None))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.source_type, "Plugin", "{app}");
        assert_eq!(report(&answer.manifests)["path"], app);
    }
    // No plugin matches: the built-in tools, as before.
    let answer = c
        .generate_manifest(request(&url, "apps/a", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Directory");
    assert_eq!(objects(&answer.manifests)[0]["metadata"]["name"], "a");
    // Plugin discovery does not read the kube version: a plain YAML app renders as before.
    let mut req = request(&url, "apps/a", None);
    req.kube_version = "not a version".into();
    let answer = c.generate_manifest(req).await.unwrap().into_inner();
    assert_eq!(answer.source_type, "Directory");
    // An explicit type is never sent to discovery.
    let answer = c
        .generate_manifest(request(&url, "apps/dir", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Plugin");
    let mut req = request(&url, "apps/dir", None);
    if let Some(s) = req.application_source.as_mut() {
        s.directory = Some(Default::default());
    }
    let answer = c.generate_manifest(req).await.unwrap().into_inner();
    assert_eq!(answer.source_type, "Directory");
    assert_eq!(objects(&answer.manifests)[0]["metadata"]["name"], "d");

    // ListApps: a plugin taking the repository root makes it the one app; here none does.
    let apps = c
        .list_apps(ListAppsRequest {
            repo: repo_message(&url),
            revision: "HEAD".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .apps;
    assert_eq!(apps.get("apps/chart").map(String::as_str), Some("Helm"));
    // ListPlugins: every socket, by name.
    let names: Vec<String> = c
        .list_plugins(())
        .await
        .unwrap()
        .into_inner()
        .items
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["a-first", "by-command", "by-file"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_taking_the_repository_root_is_its_one_app() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = files();
    files.push(("marker.envsubst", ""));
    let (_, url) = repository(dir.path(), "origin", &files);
    let mut sidecars = Sidecars::new();
    let by_file = "  discover:\n    fileName: \"*.envsubst\"\n";
    sidecars.add(&definition("by-file", &format!("{by_file}{REPORTER}")), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    let apps = c
        .list_apps(ListAppsRequest {
            repo: repo_message(&url),
            revision: "HEAD".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .apps;
    assert_eq!(apps, HashMap::from([(".".into(), "Plugin".into())]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_details_carry_static_and_dynamic_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let mut sidecars = Sidecars::new();
    let params = r#"  parameters:
    static:
      - name: replicas
        title: Replicas
        string: "1"
    dynamic:
      command: [sh, -c, 'printf "[{\"name\":\"dyn\",\"string\":\"%s\"}]" "$ARGOCD_ENV_FOO"']
"#;
    sidecars.add(&definition("params", &format!("{params}{REPORTER}")), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    let plugin = ApplicationSourcePlugin {
        name: Some("params".into()),
        env: vec![EnvEntry {
            name: Some("FOO".into()),
            value: Some("$ARGOCD_APP_NAME".into()),
        }],
        ..Default::default()
    };
    let details = c
        .get_app_details(RepoServerAppDetailsQuery {
            repo: repo_message(&url),
            source: Some(ApplicationSource {
                plugin: Some(plugin),
                ..source(&url, "apps/a")
            }),
            app_name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.r#type, "Plugin");
    let announced: HashMap<String, String> = details
        .plugin
        .expect("plugin details")
        .parameters_announcement
        .into_iter()
        .map(|p| (p.name, p.string))
        .collect();
    assert_eq!(announced.get("replicas").map(String::as_str), Some("1"));
    assert_eq!(announced.get("dyn").map(String::as_str), Some("web"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_come_back_capped_bounded_in_time_and_paused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let mut sidecars = Sidecars::new();
    let flag = dir.path().join("fail");
    std::fs::write(&flag, "").unwrap();
    let failing = format!(
        "  generate:\n    command: [sh, -c, 'if test -e {}; then printf \"boom%.0s\" $(seq 3000) >&2; exit 3; fi; cat cm.yaml']\n",
        flag.display()
    );
    sidecars.add(&definition("failing", &failing), &[]);
    let slow = "  generate:\n    command: [sh, -c, 'sleep 60']\n";
    sidecars.add(&definition("slow", slow), &[]);
    let garbage = "  generate:\n    command: [sh, -c, 'printf \"{{{ not: [yaml\"']\n";
    sidecars.add(&definition("garbage", garbage), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |e| {
        e.exec_timeout = std::time::Duration::from_secs(2);
        e.pause_after_failures = 1;
    })
    .await;
    let mut req = request(&url, "apps/a", named("failing"));
    req.no_cache = false;
    let err = c.generate_manifest(req.clone()).await.unwrap_err();
    let text = err.message();
    assert!(text.contains("boomboom"), "{text}");
    assert!(text.len() < 6000, "capped: {} bytes", text.len());
    // The failure is remembered: the same request fails alike while generation is paused.
    std::fs::remove_file(&flag).unwrap();
    let again = c.generate_manifest(req).await.unwrap_err();
    // The status layer cuts long messages: compared by their start.
    let cached = format!("Manifest generation error (cached): {}", &text[..200]);
    assert!(again.message().starts_with(&cached), "{}", again.message());

    let err = c
        .generate_manifest(request(&url, "apps/a", named("slow")))
        .await
        .unwrap_err();
    assert!(err.message().contains("slow"), "{}", err.message());

    let err = c
        .generate_manifest(request(&url, "apps/a", named("garbage")))
        .await
        .unwrap_err();
    assert!(err.message().contains("garbage"), "{}", err.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_their_own_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let mut sidecars = Sidecars::new();
    sidecars.add(&definition("reporter", REPORTER), &[]);
    let (_server, c) = server(dir.path(), &sidecars, |_| {}).await;
    let calls = (0..8).map(|i| {
        let mut c = c.clone();
        let mut req = request(&url, "apps/a", named("reporter"));
        req.app_name = format!("app-{i}");
        async move {
            let answer = c.generate_manifest(req).await.unwrap().into_inner();
            (i, report(&answer.manifests)["app"].clone())
        }
    });
    for (i, app) in futures_util::future::join_all(calls).await {
        assert_eq!(app, format!("app-{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_asking_for_git_credentials_is_refused_for_a_repository_with_some() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let mut sidecars = Sidecars::new();
    let spec = format!("  provideGitCreds: true\n{REPORTER}");
    sidecars.add(&definition("creds", &spec), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    // Without credentials there is nothing to send: rendered.
    c.generate_manifest(request(&url, "apps/a", named("creds")))
        .await
        .unwrap();
    let mut req = request(&url, "apps/a", named("creds"));
    if let Some(repo) = req.repo.as_mut() {
        repo.username = Some("git".into());
        repo.password = Some("s3cret".into());
    }
    let err = c.generate_manifest(req).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{}", err.message());
    assert!(
        err.message().contains("provideGitCreds"),
        "{}",
        err.message()
    );
    assert!(!err.message().contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_names_and_links_inside_the_repository_work_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, url) = repository(dir.path(), "origin", &files());
    // A linked file and a linked directory, both inside the repository (upstream's
    // TestCMPWithSymlinkFiles/Folder).
    std::os::unix::fs::symlink("../shared/s.txt", origin.join("apps/a/l.txt")).unwrap();
    std::os::unix::fs::symlink("../shared", origin.join("apps/a/linked")).unwrap();
    repos::commit(&origin, &[]);
    let mut sidecars = Sidecars::new();
    let spec = r#"  version: v1.0
  generate:
    command: [sh, -c]
    args:
      - |
        cat <<EOF
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: links
        data:
          file: "$(cat l.txt)"
          folder: "$(cat linked/s.txt)"
        EOF
"#;
    sidecars.add(&definition("cmp-find-glob", spec), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    // `<metadata.name>-<spec.version>`, as the sidecar names its socket.
    let answer = c
        .generate_manifest(request(&url, "apps/a", named("cmp-find-glob-v1.0")))
        .await
        .unwrap()
        .into_inner();
    let data = report(&answer.manifests);
    assert_eq!(data["file"], "shared");
    assert_eq!(data["folder"], "shared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_leaving_the_repository_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, url) = repository(dir.path(), "origin", &files());
    std::os::unix::fs::symlink("/etc/passwd", origin.join("apps/a/evil")).unwrap();
    repos::commit(&origin, &[]);
    let mut sidecars = Sidecars::new();
    sidecars.add(&definition("reporter", REPORTER), &[]);
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    let err = c
        .generate_manifest(request(&url, "apps/a", named("reporter")))
        .await
        .unwrap_err();
    assert!(err.message().contains("symlink"), "{}", err.message());
    assert!(!err.message().contains("/etc/passwd"), "{}", err.message());
}

/// A sidecar that cannot answer discovery (restarting, crashed: its socket is there, nothing
/// listens) may be the one that owns the app: rendering it with the built-in tools instead
/// would deploy what the plugin was meant to transform (e.g. `<path:secret#key>` placeholders),
/// so the request fails, naming the sidecar, until every sidecar answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_that_cannot_answer_discovery_fails_the_render_instead_of_built_in_tools() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), "origin", &files());
    let sidecars = Sidecars::new();
    // A socket file nobody listens on, as a crashed sidecar leaves it.
    drop(std::os::unix::net::UnixListener::bind(sidecars.plugins().join("vault.sock")).unwrap());
    let (_server, mut c) = server(dir.path(), &sidecars, |_| {}).await;
    let status = c
        .generate_manifest(request(&url, "apps/a", None))
        .await
        .expect_err("rendered with the built-in tools while a sidecar did not answer");
    assert!(status.message().contains("vault"), "{}", status.message());
    // An explicit built-in type does not ask the sidecars, so it still renders.
    let mut req = request(&url, "apps/a", None);
    if let Some(s) = req.application_source.as_mut() {
        s.directory = Some(Default::default());
    }
    let answer = c.generate_manifest(req).await.unwrap().into_inner();
    assert_eq!(answer.source_type, "Directory");
}
