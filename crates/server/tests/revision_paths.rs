//! UpdateRevisionForPaths (manifest-generate-paths) and refresh semantics over gRPC, with the
//! requests built as upstream's application controller builds them (`controller/state.go`,
//! `UpdateRevisionForPathsRequest{Repo, Revision, SyncedRevision, NoRevisionCache,
//! Paths: path.GetSourceRefreshPaths(app, source), ...}`): paths arrive already resolved against
//! the repository root. Cases follow upstream's `TestUpdateRevisionForPaths`.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use repo_client::RepoServerServiceClient;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceHelm, RefTarget, Repository, SourceIntegrity,
    SourceIntegrityGit, SourceIntegrityGitPolicy, SourceIntegrityGitPolicyGpg,
    SourceIntegrityGitPolicyRepo,
};
use support::*;
use tonic::transport::Channel;
use tonic::Code;

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

/// A repository with one commit: apps/web and apps/api, each a directory app.
fn repository(dir: &Path, name: &str) -> (PathBuf, String) {
    let repo = dir.join(name);
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(&repo, "apps/web/web.yaml", &cm("web", "1"));
    write(&repo, "apps/api/api.yaml", &cm("api", "1"));
    write(&repo, "envs/prod.yaml", "replicas: 1\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    (repo, first)
}

fn commit(repo: &Path, file: &str, body: &str) -> String {
    write(repo, file, body);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", file]);
    git(repo, &["rev-parse", "HEAD"])
}

/// A `head` policy for every file:// repository, with a key nothing is signed with.
fn policy() -> Option<SourceIntegrity> {
    Some(SourceIntegrity {
        git: Some(SourceIntegrityGit {
            policies: vec![SourceIntegrityGitPolicy {
                repos: vec![SourceIntegrityGitPolicyRepo {
                    url: Some("file://*".into()),
                }],
                gpg: Some(SourceIntegrityGitPolicyGpg {
                    mode: Some("head".into()),
                    keys: vec!["D56C4FCA57A46444".into()],
                }),
            }],
        }),
    })
}

/// gpg runs the verification: a missing gpg fails under CI=true, else that part skips.
fn gpg_available() -> bool {
    let ok = std::process::Command::new("gpg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "gpg is needed (scripts/install-tools installs gnupg)"
        );
        eprintln!("skipping the signature checks: gpg is missing (Debian: apt-get install gnupg)");
    }
    ok
}

async fn client() -> (repo_server::Running, RepoServerServiceClient<Channel>) {
    let server = start(None).await;
    let channel = repo_client::open(&server.grpc.to_string(), None, None)
        .await
        .unwrap();
    (server, RepoServerServiceClient::new(channel))
}

fn repo(url: &str) -> Option<Repository> {
    Some(Repository {
        repo: Some(url.to_string()),
        r#type: Some("git".into()),
        ..Default::default()
    })
}

fn source(url: &str, path: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: Some(url.to_string()),
        path: Some(path.to_string()),
        target_revision: Some("main".into()),
        ..Default::default()
    }
}

/// GenerateManifest as the controller sends it for the app.
fn manifests(url: &str, path: &str, revision: &str) -> ManifestRequest {
    ManifestRequest {
        repo: repo(url),
        revision: revision.into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        kube_version: "1.31.0".into(),
        application_source: Some(source(url, path)),
        ..Default::default()
    }
}

/// UpdateRevisionForPaths for the same app, with the controller's refresh paths.
fn paths(
    url: &str,
    path: &str,
    revision: &str,
    synced: &str,
    refresh: &[&str],
) -> UpdateRevisionForPathsRequest {
    UpdateRevisionForPathsRequest {
        repo: repo(url),
        revision: revision.into(),
        synced_revision: synced.into(),
        paths: refresh.iter().map(|p| p.to_string()).collect(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        kube_version: "1.31.0".into(),
        application_source: Some(source(url, path)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_under_an_app_not_at_the_root_is_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, first) = repository(dir.path(), "origin");
    let url = format!("file://{}", origin.display());
    let (server, mut c) = client().await;

    // Annotation "." on an app at apps/web: the controller sends "apps/web".
    let web = commit(&origin, "apps/web/web.yaml", &cm("web", "2"));
    let reply = c
        .update_revision_for_paths(paths(&url, "apps/web", "main", &first, &["apps/web"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (true, web.as_str())
    );

    // A commit elsewhere is no change for this app: its manifests move to the new commit.
    c.generate_manifest(manifests(&url, "apps/web", &web))
        .await
        .unwrap();
    let api = commit(&origin, "apps/api/api.yaml", &cm("api", "2"));
    // The refs were listed before this push: list them anew, as a refresh or webhook does.
    let mut fresh = paths(&url, "apps/web", "main", &web, &["apps/web"]);
    fresh.no_revision_cache = true;
    let reply = c
        .update_revision_for_paths(fresh)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (false, api.as_str())
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_short_circuits() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, first) = repository(dir.path(), "origin");
    let url = format!("file://{}", origin.display());
    let (server, mut c) = client().await;

    // NoPathAbort: without paths every commit counts, and no revision is named.
    let reply = c
        .update_revision_for_paths(paths(&url, "apps/web", "", "", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.changes, reply.revision.as_str()), (true, ""));

    // SameResolvedRevisionAbort: two spellings of one commit.
    let reply = c
        .update_revision_for_paths(paths(&url, "apps/web", "main", &first, &["."]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (false, first.as_str())
    );

    // A Helm chart source (untyped repository) without ref sources: nothing to compare, and
    // no network (the URL does not answer).
    let mut helm = paths("https://127.0.0.1:1/charts", "", "1.0.0", "0.9.0", &["."]);
    helm.repo.as_mut().unwrap().r#type = None;
    helm.application_source = Some(ApplicationSource {
        repo_url: Some("https://127.0.0.1:1/charts".into()),
        chart: Some("web".into()),
        target_revision: Some("1.0.0".into()),
        ..Default::default()
    });
    let reply = c
        .update_revision_for_paths(helm)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.changes, reply.revision.as_str()), (false, ""));

    // OCIRepoWithEmptyTypeShortCircuits.
    let mut oci = paths("oci://127.0.0.1:1/charts/web", "", "1.0.0", "0.9.0", &["."]);
    oci.repo.as_mut().unwrap().r#type = None;
    let reply = c.update_revision_for_paths(oci).await.unwrap().into_inner();
    assert_eq!((reply.changes, reply.revision.as_str()), (false, ""));

    // Signature verification: an unsigned commit under a policy is reported as upstream
    // reports it, never as verified (tests/signatures.rs has the signed cases).
    if gpg_available() {
        let gpg = tempfile::tempdir().unwrap();
        std::fs::create_dir(gpg.path().join("source")).unwrap();
        let mut config = config(None);
        config.engine.gpg = repo_server::config::Gpg {
            enabled: true,
            data_path: gpg.path().join("source"),
            gnupg_home: gpg.path().join("home"),
        };
        let verifying = repo_server::start(config).await.unwrap();
        let channel = repo_client::open(&verifying.grpc.to_string(), None, None)
            .await
            .unwrap();
        let mut v = RepoServerServiceClient::new(channel);
        let unsigned = format!(
            "Failed verifying revision {first} by 'Test Author <author@example.com>': unsigned (key_id=)"
        );
        let mut verify = manifests(&url, "apps/web", &first);
        verify.verify_signature = true;
        verify.source_integrity = policy();
        let r = v.generate_manifest(verify).await.unwrap().into_inner();
        let checks = r.source_integrity_result.expect("a check").checks;
        assert_eq!(checks[0].name.as_deref(), Some("GIT/GPG"));
        assert_eq!(checks[0].problems, [unsigned.as_str()]);
        assert_eq!(
            r.verify_result, "",
            "gpg has nothing to say about an unsigned commit"
        );
        let m = v
            .get_revision_metadata(RepoServerRevisionMetadataRequest {
                repo: repo(&url),
                revision: first.clone(),
                check_signature: true,
                source_integrity: policy(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            m.source_integrity_result.clone().expect("a check").checks[0].problems,
            [unsigned.as_str()]
        );
        assert_eq!(
            m.signature_info(),
            format!("Target revision {first} in Git is not signed, but a signature is required")
        );
        let err = v
            .get_git_directories(GitDirectoriesRequest {
                repo: repo(&url),
                revision: first.clone(),
                source_integrity: policy(),
                verify_commit: true,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), err.message()),
            (Code::Unknown, format!("GIT/GPG: {unsigned}").as_str())
        );
        verifying.stop().await.unwrap();
    }

    // No repository at all: upstream's INVALID_ARGUMENT.
    let mut none = paths(&url, "apps/web", "main", &first, &["."]);
    none.repo = None;
    let err = c.update_revision_for_paths(none).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "must pass a valid repo")
    );
    server.stop().await.unwrap();
}

/// On "no change" the cached manifests move to the new commit (upstream's
/// `SetNewRevisionManifests`): the next GenerateManifest answers from the cache. The new commit
/// breaks the app outside its refresh paths, so only a moved entry can answer it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_change_moves_the_cached_manifests_to_the_new_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, first) = repository(dir.path(), "origin");
    let url = format!("file://{}", origin.display());
    let (server, mut c) = client().await;
    let rendered = c
        .generate_manifest(manifests(&url, "apps/web", &first))
        .await
        .unwrap()
        .into_inner();
    let broken = commit(&origin, "apps/web/broken.json", "{\"kind\": ");

    let reply = c
        .update_revision_for_paths(paths(
            &url,
            "apps/web",
            &broken,
            &first,
            &["apps/web/web.yaml"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (false, broken.as_str())
    );

    let moved = c
        .generate_manifest(manifests(&url, "apps/web", &broken))
        .await
        .expect("answered from the moved entry, not rendered")
        .into_inner();
    assert_eq!(moved.manifests, rendered.manifests);
    assert_eq!(
        moved.revision, broken,
        "the moved entry reports the new commit"
    );

    // A hard refresh renders the new commit, and fails on the broken file.
    let mut hard = manifests(&url, "apps/web", &broken);
    hard.no_cache = true;
    let err = c.generate_manifest(hard).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

    // With nothing rendered at the synced commit there is nothing to move: a change.
    let other = commit(&origin, "apps/api/api.yaml", &cm("api", "3"));
    let mut api = paths(&url, "apps/api", &other, &broken, &["apps/api/none"]);
    api.app_name = "api".into();
    let reply = c.update_revision_for_paths(api).await.unwrap().into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (true, other.as_str())
    );
    server.stop().await.unwrap();
}

/// A user refresh, a webhook or a sync (`noRevisionCache`) sees a push at once; without it the
/// listing of refs is reused for the revision cache's lifetime, as upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_sees_a_push_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, first) = repository(dir.path(), "origin");
    let url = format!("file://{}", origin.display());
    let (server, mut c) = client().await;
    let cached = c
        .generate_manifest(manifests(&url, "apps/web", "main"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cached.revision, first);
    let pushed = commit(&origin, "apps/web/web.yaml", &cm("web", "2"));

    let stale = c
        .generate_manifest(manifests(&url, "apps/web", "main"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stale.revision, first,
        "within the revision cache's lifetime"
    );

    let mut refresh = manifests(&url, "apps/web", "main");
    refresh.no_revision_cache = true;
    let fresh = c.generate_manifest(refresh).await.unwrap().into_inner();
    assert_eq!(fresh.revision, pushed);
    assert!(
        fresh.manifests[0].contains("\"v\":\"2\""),
        "{:?}",
        fresh.manifests
    );

    let resolved = c
        .resolve_revision(ResolveRevisionRequest {
            repo: repo(&url),
            ambiguous_revision: "main".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resolved.revision, pushed,
        "the refresh replaced the cached listing"
    );

    let files = commit(&origin, "apps/web/extra.yaml", &cm("extra", "1"));
    let mut listing = GitFilesRequest {
        repo: repo(&url),
        revision: "main".into(),
        path: "apps/web/*.yaml".into(),
        new_git_file_globbing_enabled: true,
        ..Default::default()
    };
    let before = c.get_git_files(listing.clone()).await.unwrap().into_inner();
    assert!(!before.map.contains_key("apps/web/extra.yaml"));
    listing.no_revision_cache = true;
    let after = c.get_git_files(listing).await.unwrap().into_inner();
    assert!(after.map.contains_key("apps/web/extra.yaml"), "{files}");
    server.stop().await.unwrap();
}

/// A multi-source app whose Helm values come from another repository (`$values`): a change
/// there counts, and a ref the value files name but no source defines is upstream's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ref_sources_count_as_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (chart, chart_first) = repository(dir.path(), "chart");
    let (values, values_first) = repository(dir.path(), "values");
    let (chart_url, values_url) = (
        format!("file://{}", chart.display()),
        format!("file://{}", values.display()),
    );
    let (server, mut c) = client().await;
    let target = |revision: &str| RefTarget {
        repo: repo(&values_url),
        target_revision: Some(revision.to_string()),
        chart: None,
    };
    let request = |synced_values: &str| {
        let mut r = paths(&chart_url, "apps/web", "main", &chart_first, &["envs"]);
        r.revision = chart_first.clone();
        r.has_multiple_sources = true;
        r.application_source.as_mut().unwrap().helm = Some(ApplicationSourceHelm {
            value_files: vec!["$values/envs/prod.yaml".into()],
            ..Default::default()
        });
        r.ref_sources = HashMap::from([("$values".to_string(), target("main"))]);
        r.synced_ref_sources = HashMap::from([("$values".to_string(), target(synced_values))]);
        r
    };

    let reply = c
        .update_revision_for_paths(request(&values_first))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (false, chart_first.as_str())
    );

    let pushed = commit(&values, "envs/prod.yaml", "replicas: 3\n");
    let mut fresh = request(&values_first);
    fresh.no_revision_cache = true;
    let reply = c
        .update_revision_for_paths(fresh)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (true, chart_first.as_str()),
        "{pushed}"
    );

    let mut undefined = request(&values_first);
    undefined.synced_ref_sources.clear();
    let err = c.update_revision_for_paths(undefined).await.unwrap_err();
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(
        err.message(),
        "source referenced \"$values\", but no source has a 'ref' field defined"
    );
    server.stop().await.unwrap();
}
