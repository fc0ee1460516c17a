//! Refusals that must happen before git runs.

use std::sync::atomic::Ordering;

use repo_git::{Creds, Error, Repo};

use crate::support::{self, http, Fixture, Http};

#[tokio::test]
async fn dangerous_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    for url in [
        "ext::sh -c touch% /tmp/pwned",
        "ext::git-upload-pack",
        "fd::7",
        "gopher://host/repo",
        "-uhttps://host/repo",
        "https://host/re\npo",
    ] {
        let err = cache.test(&support::repo(url)).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{url:?}: {err}"
        );
    }
}

#[tokio::test]
async fn option_like_revisions_are_refused_without_running_git() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = Repo {
        url: server.url("repo.git"),
        creds: Creds {
            username: http::USER.into(),
            password: http::PASSWORD.into(),
            ..Creds::default()
        },
    };
    let evil = "--upload-pack=touch /tmp/pwned";
    let sha = &fixture.commits[0];
    let errors = [
        cache.resolve(&repo, evil, "").await.unwrap_err(),
        cache.resolve(&repo, "-1", "").await.unwrap_err(),
        cache.snapshot(&repo, evil).await.unwrap_err(),
        cache.commit(&repo, "--all").await.unwrap_err(),
        cache
            .changed_paths(&repo, "--output=/tmp/x", sha)
            .await
            .unwrap_err(),
        cache.changed_paths(&repo, sha, "-p").await.unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }
    assert_eq!(server.adverts.load(Ordering::SeqCst), 0, "git never ran");
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[tokio::test]
async fn one_cache_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = support::cache(dir.path());
    let err = repo_git::Cache::new(support::settings(dir.path())).unwrap_err();
    assert!(matches!(err, Error::Setup { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(first);
    support::cache(dir.path());
}
