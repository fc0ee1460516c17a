//! Git submodules end to end over mTLS: an app inside a submodule renders from the commit the
//! parent records; one left empty (`update = none`) is refused by name, never rendered as
//! nothing.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::Path;

use repo_proto::repository::*;
use repo_proto::v1alpha1::ApplicationSource;
use repos::*;
use tonic::Code;

fn cm(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lib\ndata:\n  v: \"{value}\"\n")
}

/// `top` records `lib` at its first commit under `vendor/lib` (and again under `vendor/off`,
/// marked `update = none`); `lib`'s branch has moved on since.
fn repositories(dir: &Path) -> String {
    let (lib, lib_url) = repository(dir, "lib", &[("apps/cm/cm.yaml", &cm("pinned"))]);
    let pinned = git(&lib, &["rev-parse", "HEAD"]);
    commit(&lib, &[("apps/cm/cm.yaml", &cm("branch head"))]);
    let modules = format!(
        "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = {lib_url}\n\
         [submodule \"off\"]\n\tpath = vendor/off\n\turl = {lib_url}\n\tupdate = none\n"
    );
    let (top, top_url) = repository(dir, "top", &[(".gitmodules", &modules)]);
    for path in ["vendor/lib", "vendor/off"] {
        let info = format!("160000,{pinned},{path}");
        git(&top, &["update-index", "--add", "--cacheinfo", &info]);
    }
    git(&top, &["commit", "-q", "-m", "submodules"]);
    top_url
}

fn request(url: &str, path: &str) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: "main".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some("main".into()),
            ..Default::default()
        }),
        project_name: "default".into(),
        project_source_repos: vec!["*".into()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_inside_a_submodule_renders_at_the_recorded_commit() {
    let dir = tempfile::tempdir().unwrap();
    let url = repositories(dir.path());
    let (_server, mut c) = client(dir.path()).await;

    let response = c
        .generate_manifest(request(&url, "vendor/lib/apps/cm"))
        .await
        .unwrap()
        .into_inner();
    let objects = objects(&response.manifests);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0]["data"]["v"], "pinned");

    let err = c
        .generate_manifest(request(&url, "vendor/off/apps/cm"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert!(
        err.message().contains("lies in submodule vendor/off"),
        "{err:?}"
    );
    assert!(
        err.message().contains("ARGOCD_GIT_MODULES_ENABLED"),
        "{err:?}"
    );
}
