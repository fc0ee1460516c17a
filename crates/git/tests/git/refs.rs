//! The ref listing cache: one `ls-remote` for concurrent callers, reused within the TTL.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use repo_git::{Cache, Creds, Refresh, Repo, Revision};

use crate::support::{self, http, Fixture, Http};

fn authorized(url: &str) -> Repo {
    Repo::new(
        url,
        Creds {
            username: http::USER.into(),
            password: http::PASSWORD.into(),
            ..Creds::default()
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_listings_share_one_ls_remote() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = authorized(&server.url("repo.git"));

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (cache, repo) = (cache.clone(), repo.clone());
            tokio::spawn(async move { cache.refs(&repo).await })
        })
        .collect();
    let mut listings = Vec::new();
    for call in calls {
        listings.push(call.await.unwrap().unwrap());
    }
    assert_eq!(
        server.adverts.load(Ordering::SeqCst),
        1,
        "one ls-remote for all"
    );
    assert!(listings.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
    let refs = &listings[0];
    assert_eq!(refs.head.as_deref(), Some("refs/heads/main"));
    let branches: Vec<&str> = refs.branches.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(branches, ["feature", "main"]);
    assert!(refs
        .tags
        .iter()
        .any(|(n, sha)| n == "v1.0.0" && *sha == fixture.commits[0]));

    // Within the TTL, resolution and listings reuse it, also under another spelling of the URL.
    cache
        .resolve(&repo, &Revision::new("feature").unwrap(), "")
        .await
        .unwrap();
    let respelled = authorized(&format!("{}/", server.url("repo")));
    cache.refs(&respelled).await.unwrap();
    assert_eq!(server.adverts.load(Ordering::SeqCst), 1);
    // TestRepository always asks the server.
    cache.test(&repo).await.unwrap();
    assert_eq!(server.adverts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn expired_listings_are_refreshed() {
    let mut fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::settings(dir.path());
    settings.ref_cache_ttl = Duration::ZERO;
    let cache = Cache::new(settings).unwrap();
    let repo = authorized(&server.url("repo.git"));
    assert_eq!(
        cache
            .resolve(&repo, &Revision::new("main").unwrap(), "")
            .await
            .unwrap()
            .sha,
        fixture.commits[4]
    );
    let newer = fixture.commit(&[("a.txt", "six\n")], "sixth");
    fixture.publish();
    assert_eq!(
        cache
            .resolve(&repo, &Revision::new("main").unwrap(), "")
            .await
            .unwrap()
            .sha,
        newer
    );
    assert_eq!(server.adverts.load(Ordering::SeqCst), 2);
}

/// A refresh (upstream's `noRevisionCache`: user refresh, webhook, sync) sees a push at once,
/// and later cached lookups see what it listed.
#[tokio::test]
async fn a_fresh_listing_sees_a_push_within_the_ttl() {
    let mut fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = authorized(&server.url("repo.git"));
    let main = Revision::new("main").unwrap();
    let resolve = |refresh| cache.resolve_with(&repo, &main, "", refresh);
    assert_eq!(
        resolve(Refresh::Cached).await.unwrap().sha,
        fixture.commits[4]
    );
    let newer = fixture.commit(&[("a.txt", "six\n")], "sixth");
    fixture.publish();
    assert_eq!(
        resolve(Refresh::Cached).await.unwrap().sha,
        fixture.commits[4],
        "within the TTL the cached listing answers"
    );
    assert_eq!(resolve(Refresh::Fresh).await.unwrap().sha, newer);
    assert_eq!(resolve(Refresh::Cached).await.unwrap().sha, newer);
    assert_eq!(server.adverts.load(Ordering::SeqCst), 2, "one listing each");
}

/// A listing the server cannot answer is tried `attempts` times (upstream's
/// `ARGOCD_GIT_ATTEMPTS_COUNT`); a refusal is not retried.
#[tokio::test]
async fn unanswered_listings_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = tries.clone();
    let cache = Cache::new(repo_git::Settings {
        retry: repo_git::Retry {
            attempts: 3,
            wait: Duration::from_millis(1),
            ..repo_git::Retry::default()
        },
        observer: Some(repo_git::Observer::new(move |r| {
            if r.kind == "ls-remote" {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        })),
        ..support::settings(dir.path())
    })
    .unwrap();
    // Nothing listens there: the server cannot answer.
    let port = support::free_port();
    let repo = Repo::new(
        &format!("http://127.0.0.1:{port}/repo.git"),
        Creds::default(),
    )
    .unwrap();
    let err = cache.refs(&repo).await.unwrap_err();
    assert!(matches!(err, repo_git::Error::Unavailable { .. }), "{err}");
    assert_eq!(tries.load(Ordering::SeqCst), 3);
}
