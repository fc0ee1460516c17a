//! Renders of different commits run at the same time. `kustomize` is wrapped in a barrier: a
//! build of one commit waits until a build of the other commit has started, so the requests
//! only succeed if the server runs the two renders at once.
//!
//! This binary holds this one test: the server reads `KUSTOMIZE_BIN` when it starts, and no
//! other test shares the process whose environment it sets.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use repo_client::RepoServerServiceClient;
use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{ApplicationSource, Repository};
use support::*;

/// The real kustomize: on PATH (scripts/test puts `.tools/bin` there) or in `.tools/bin`.
fn kustomize() -> Option<PathBuf> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([tools])
        .map(|dir| dir.join("kustomize"))
        .find(|bin| bin.is_file());
    if found.is_none() {
        let why = "kustomize not found on PATH or in .tools/bin; run scripts/install-tools";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipping: {why}");
    }
    found
}

/// A `kustomize` that holds each `build` until builds of two different commits (told apart by
/// their `cm.yaml`) have started, then runs the real one. It gives up after 30 s, saying why.
fn barrier(dir: &Path, kustomize: &Path) -> PathBuf {
    let arrivals = dir.join("arrivals");
    std::fs::create_dir(&arrivals).unwrap();
    let script = dir.join("kustomize");
    let text = format!(
        r#"#!/bin/sh
if [ "$1" = build ]; then
    : > "{arrivals}/$(cksum < "$2/cm.yaml" | cut -d' ' -f1)"
    tries=0
    while [ "$(ls "{arrivals}" | wc -l)" -lt 2 ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt 600 ]; then
            echo "no build of the other commit started while this one waited 30s: renders are serialised" >&2
            exit 1
        fi
        sleep 0.05
    done
fi
exec "{kustomize}" "$@"
"#,
        arrivals = arrivals.display(),
        kustomize = kustomize.display(),
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A repository whose Kustomize app `apps/web` differs between its two commits.
fn repository(dir: &Path) -> (PathBuf, [String; 2]) {
    let repo = dir.join("origin");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(
        &repo,
        "apps/web/kustomization.yaml",
        "resources:\n- cm.yaml\n",
    );
    let cm = |a: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: \"{a}\"\n")
    };
    write(&repo, "apps/web/cm.yaml", &cm("1"));
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    write(&repo, "apps/web/cm.yaml", &cm("2"));
    git(&repo, &["commit", "-q", "-am", "second"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    (repo, [first, second])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_commits_render_concurrently() {
    let Some(real) = kustomize() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("KUSTOMIZE_BIN", barrier(dir.path(), &real));
    let (origin, commits) = repository(dir.path());
    let url = format!("file://{}", origin.display());
    let server = start(None).await;
    let channel = repo_client::open(&server.grpc.to_string(), None, None)
        .await
        .unwrap();
    let client = RepoServerServiceClient::new(channel);
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let mut client = client.clone();
            let revision = commits[i % 2].clone();
            let request = ManifestRequest {
                repo: Some(Repository {
                    repo: Some(url.clone()),
                    ..Default::default()
                }),
                revision: revision.clone(),
                app_name: "web".into(),
                namespace: "prod".into(),
                application_source: Some(ApplicationSource {
                    repo_url: Some(url.clone()),
                    path: Some("apps/web".into()),
                    target_revision: Some(revision.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            tokio::spawn(async move { (revision, client.generate_manifest(request).await) })
        })
        .collect();
    for call in calls {
        let (revision, reply) = call.await.unwrap();
        let reply = reply.unwrap().into_inner();
        assert_eq!(reply.revision, revision);
        // Each commit's own content: the value the commit wrote.
        let a = if revision == commits[0] { "1" } else { "2" };
        assert_eq!(reply.manifests.len(), 1, "{:?}", reply.manifests);
        assert!(
            reply.manifests[0].contains(&format!(r#""a":"{a}""#)),
            "{revision}: {:?}",
            reply.manifests
        );
    }
    let arrived = std::fs::read_dir(dir.path().join("arrivals"))
        .unwrap()
        .count();
    assert_eq!(arrived, 2, "one build per commit reached the barrier");
    server.stop().await.unwrap();
}
