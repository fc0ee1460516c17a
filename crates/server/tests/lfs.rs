//! Git LFS (`enableLfs`) end to end over mTLS, with real git-lfs: a file:// repository whose
//! LFS objects sit in its own `.git/lfs` (git-lfs's standalone file transfer). Without
//! `enableLfs` pointer files stay pointers, as upstream; with it they are their objects, in
//! files and in rendered manifests, and the two never share a cached answer.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::Path;

use repo_proto::repository::*;
use repo_proto::v1alpha1::{ApplicationSource, Repository};
use repos::*;
use sha2::{Digest, Sha256};

const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: large\ndata:\n  v: big\n";

/// Whether git-lfs runs: fails under CI=true when it does not, skips elsewhere.
fn git_lfs() -> bool {
    let out = std::process::Command::new("git")
        .args(["lfs", "version"])
        .output();
    let ok = out.is_ok_and(|o| o.status.success());
    if !ok {
        let why = "git-lfs is not installed; run scripts/install-tools";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipping: {why}");
    }
    ok
}

/// A repository whose `apps/large/cm.yaml` and `data/model.json` are LFS pointers, with their
/// objects stored where git-lfs's file transfer finds them; the URL and the pointer of
/// `data/model.json`.
fn repository_with_objects(dir: &Path) -> (String, String) {
    let mut pointers = Vec::new();
    let mut objects = Vec::new();
    for content in [CONFIGMAP, "{\"weights\": [1, 2, 3]}\n"] {
        let oid = hex::encode(Sha256::digest(content));
        pointers.push(format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
            content.len()
        ));
        objects.push((oid, content));
    }
    let (repo, url) = repository(
        dir,
        "assets",
        &[
            (".gitattributes", "apps/large/*.yaml filter=lfs diff=lfs merge=lfs -text\n*.json filter=lfs diff=lfs merge=lfs -text\n"),
            ("apps/large/cm.yaml", &pointers[0]),
            ("data/model.json", &pointers[1]),
        ],
    );
    for (oid, content) in objects {
        let path = format!(".git/lfs/objects/{}/{}/{oid}", &oid[..2], &oid[2..4]);
        write(&repo, &path, content);
    }
    (url, pointers[1].clone())
}

fn lfs_repo(url: &str, lfs: bool) -> Option<Repository> {
    let mut repo = repo_message(url)?;
    repo.enable_lfs = Some(lfs);
    Some(repo)
}

fn files(url: &str, lfs: bool) -> GitFilesRequest {
    GitFilesRequest {
        repo: lfs_repo(url, lfs),
        revision: "main".into(),
        path: "data/*.json".into(),
        new_git_file_globbing_enabled: true,
        ..Default::default()
    }
}

fn manifests(url: &str, lfs: bool) -> ManifestRequest {
    ManifestRequest {
        repo: lfs_repo(url, lfs),
        revision: "main".into(),
        app_name: "large".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some("apps/large".into()),
            target_revision: Some("main".into()),
            ..Default::default()
        }),
        project_name: "default".into(),
        project_source_repos: vec!["*".into()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_enable_lfs_pointer_files_stay_pointers() {
    if !git_lfs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (url, pointer) = repository_with_objects(dir.path());
    let (_server, mut c) = client(dir.path()).await;

    let found = c
        .get_git_files(files(&url, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.map["data/model.json"], pointer.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_enable_lfs_files_and_manifests_are_the_objects() {
    if !git_lfs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (url, pointer) = repository_with_objects(dir.path());
    let (_server, mut c) = client(dir.path()).await;

    let found = c
        .get_git_files(files(&url, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.map["data/model.json"], b"{\"weights\": [1, 2, 3]}\n");
    let found = c
        .get_git_files(files(&url, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.map["data/model.json"], pointer.as_bytes());

    let response = c
        .generate_manifest(manifests(&url, true))
        .await
        .unwrap()
        .into_inner();
    let objects = objects(&response.manifests);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0]["data"]["v"], "big");
    // The same app without enableLfs renders the pointer, not the cached objects.
    let plain = c.generate_manifest(manifests(&url, false)).await;
    assert!(
        plain
            .as_ref()
            .map_or(true, |r| r.get_ref().manifests != response.manifests),
        "{plain:?}"
    );
}
