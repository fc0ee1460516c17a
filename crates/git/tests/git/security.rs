//! Refusals that must happen before git runs.

use std::sync::atomic::Ordering;

use repo_git::{Creds, Error, Repo, Revision};

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
        // Refused when the request is parsed, before the engine could run git.
        let err = Error::from(Repo::new(url, Creds::default()).unwrap_err());
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{url:?}: {err}"
        );
    }
    // Well-formed, but a transport this engine is not allowed to use.
    let local = Repo::new("file:///srv/repo", Creds::default()).unwrap();
    let err = cache.test(&local).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}

#[tokio::test]
async fn option_like_revisions_are_refused_without_running_git() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = Repo::new(
        &server.url("repo.git"),
        Creds {
            username: http::USER.into(),
            password: http::PASSWORD.into(),
            ..Creds::default()
        },
    )
    .unwrap();
    let evil = "--upload-pack=touch /tmp/pwned";
    let sha = &fixture.commits[0];
    let errors = [
        Error::from(Revision::new(evil).unwrap_err()),
        Error::from(Revision::new("-1").unwrap_err()),
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

/// Content fetched for one request is served to another only once that request's own
/// credentials have listed the repository: no or wrong credentials read nothing from the cache,
/// by commit or by branch.
#[tokio::test]
async fn cached_content_is_served_only_to_credentials_that_can_read_it() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let url = server.url("repo.git");
    let with = |password: &str| {
        let creds = Creds {
            username: http::USER.into(),
            password: password.into(),
            ..Creds::default()
        };
        Repo::new(&url, creds).unwrap()
    };
    let (good, wrong, none) = (
        with(http::PASSWORD),
        with("wrong"),
        Repo::new(&url, Creds::default()).unwrap(),
    );
    let sha = &fixture.commits[4];
    let main = Revision::new("main").unwrap();
    assert_eq!(cache.resolve(&good, &main, "").await.unwrap().sha, *sha);
    cache.snapshot(&good, sha).await.unwrap();

    // Refused by the server itself (only it can say Unauthenticated), cache or not.
    for intruder in [&wrong, &none] {
        let errors = [
            cache.snapshot(intruder, sha).await.unwrap_err(),
            cache.resolve(intruder, &main, "").await.unwrap_err(),
            cache.commit(intruder, sha).await.unwrap_err(),
            cache
                .changed_paths(intruder, &fixture.commits[0], sha)
                .await
                .unwrap_err(),
        ];
        for err in errors {
            assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
        }
    }
    // The proven credentials are served from the cache without asking the server again.
    let before = server.adverts.load(Ordering::SeqCst);
    cache.snapshot(&good, sha).await.unwrap();
    cache.resolve(&good, &main, "").await.unwrap();
    assert_eq!(server.adverts.load(Ordering::SeqCst), before);
}
