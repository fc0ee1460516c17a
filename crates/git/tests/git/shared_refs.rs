//! Ref listings shared by replicas: two caches in their own directories stand for two
//! replicas, an in-memory board for their Redis. Only repositories requested without any
//! credentials share; the listings the remote really answered are counted by the observer
//! (git daemon) or the server (smart HTTP).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use repo_git::{
    decode_refs, encode_refs, Cache, Creds, Pending, Refresh, Refs, Repo, Revision, SharedRefs,
};

use crate::support::{self, http, Daemon, Fixture, Http};

/// The shared store, with Redis' lock semantics (`SET NX`, compare-and-delete).
#[derive(Default)]
struct Board {
    values: Mutex<HashMap<String, Vec<u8>>>,
    locks: Mutex<HashMap<String, String>>,
    /// Every call, so a test can tell the board was never consulted.
    calls: AtomicUsize,
}

impl Board {
    fn listing(&self, url: &str) -> Option<Refs> {
        decode_refs(self.values.lock().get(url)?)
    }
}

impl SharedRefs for Board {
    fn get<'a>(&'a self, url: &'a str) -> Pending<'a, Option<Vec<u8>>> {
        self.calls.fetch_add(1, SeqCst);
        let value = self.values.lock().get(url).cloned();
        Box::pin(async move { value })
    }

    fn put<'a>(&'a self, url: &'a str, value: Vec<u8>, _ttl: Duration) -> Pending<'a, ()> {
        self.calls.fetch_add(1, SeqCst);
        self.values.lock().insert(url.to_string(), value);
        Box::pin(async {})
    }

    fn try_lock<'a>(&'a self, url: &'a str, owner: &'a str, _ttl: Duration) -> Pending<'a, bool> {
        self.calls.fetch_add(1, SeqCst);
        let mut locks = self.locks.lock();
        let taken = !locks.contains_key(url);
        if taken {
            locks.insert(url.to_string(), owner.to_string());
        }
        Box::pin(async move { taken })
    }

    fn unlock<'a>(&'a self, url: &'a str, owner: &'a str) -> Pending<'a, ()> {
        self.calls.fetch_add(1, SeqCst);
        let mut locks = self.locks.lock();
        if locks.get(url).is_some_and(|o| o == owner) {
            locks.remove(url);
        }
        Box::pin(async {})
    }
}

/// A replica: its own cache directory, the shared board, and a count of its ls-remotes.
fn replica(dir: &Path, board: &Arc<Board>) -> (Cache, Arc<AtomicUsize>) {
    let listings = Arc::new(AtomicUsize::new(0));
    let seen = listings.clone();
    let cache = Cache::new(repo_git::Settings {
        shared_refs: Some(board.clone()),
        // Long enough never to run out in a test: waiting is decided by the board alone.
        ref_lock_timeout: Duration::from_secs(3600),
        observer: Some(repo_git::Observer::new(move |r| {
            if r.kind == "ls-remote" {
                seen.fetch_add(1, SeqCst);
            }
        })),
        ..support::settings(dir)
    })
    .unwrap();
    (cache, listings)
}

#[tokio::test]
async fn a_listing_made_by_one_replica_serves_the_others() {
    let mut fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let board = Arc::new(Board::default());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((a, listed_a), (b, listed_b)) =
        (replica(dir_a.path(), &board), replica(dir_b.path(), &board));
    let repo = support::repo(&daemon.url("repo.git"));
    let main = Revision::new("main").unwrap();

    let refs = a.refs(&repo).await.unwrap();
    assert_eq!(listed_a.load(SeqCst), 1);
    assert_eq!(board.listing(&repo.remote.key).as_ref(), Some(&*refs));

    assert_eq!(*b.refs(&repo).await.unwrap(), *refs);
    let resolved = b.resolve(&repo, &main, "").await.unwrap();
    assert_eq!(resolved.sha, fixture.commits[4]);
    // The shared listing proved the repository readable without credentials: B serves it.
    b.snapshot(&repo, &resolved.sha).await.unwrap();
    assert_eq!(
        listed_b.load(SeqCst),
        0,
        "no ls-remote on the second replica"
    );

    // A fresh listing (a refresh, a webhook) replaces the shared one for the others.
    let newer = fixture.commit(&[("a.txt", "six\n")], "sixth");
    fixture.publish();
    let fresh = a.resolve_with(&repo, &main, "", Refresh::Fresh).await;
    assert_eq!(fresh.unwrap().sha, newer);
    let b2 = tempfile::tempdir().unwrap();
    let (c, listed_c) = replica(b2.path(), &board);
    assert_eq!(c.resolve(&repo, &main, "").await.unwrap().sha, newer);
    assert_eq!(listed_c.load(SeqCst), 0);
    assert_eq!(listed_a.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_across_replicas_lists_once() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let board = Arc::new(Board::default());
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let replicas = dirs.each_ref().map(|d| replica(d.path(), &board));
    let repo = support::repo(&daemon.url("repo.git"));
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let (cache, repo) = (replicas[i % 2].0.clone(), repo.clone());
            tokio::spawn(async move { cache.refs(&repo).await })
        })
        .collect();
    for call in calls {
        assert_eq!(
            call.await.unwrap().unwrap().head.as_deref(),
            Some("refs/heads/main")
        );
    }
    let listed: usize = replicas.iter().map(|(_, n)| n.load(SeqCst)).sum();
    assert_eq!(listed, 1, "one ls-remote across the replicas");
    assert!(board.locks.lock().is_empty(), "the lock is released");
}

/// What upstream's repo-server stored (perhaps listed with credentials), or anything else not
/// ours, is never taken for a listing made without credentials.
#[tokio::test]
async fn an_entry_that_is_not_ours_is_listed_anew() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let board = Arc::new(Board::default());
    let repo = support::repo(&daemon.url("repo.git"));
    let forged = format!(r#"[["refs/heads/main","{}"]]"#, "f".repeat(40));
    board
        .values
        .lock()
        .insert(repo.remote.key.clone(), forged.into_bytes());
    let dir = tempfile::tempdir().unwrap();
    let (cache, listed) = replica(dir.path(), &board);
    let main = Revision::new("main").unwrap();
    assert_eq!(
        cache.resolve(&repo, &main, "").await.unwrap().sha,
        fixture.commits[4]
    );
    assert_eq!(listed.load(SeqCst), 1);
    let stored = board.listing(&repo.remote.key).expect("ours now");
    assert!(stored
        .branches
        .contains(&("main".to_string(), fixture.commits[4].clone())));
}

/// Tenant isolation: a repository requested with credentials (its own, or in the URL) never
/// reads a shared listing, which would let its grant rest on what another request listed,
/// and never writes one, which would leak what its credentials can see.
#[tokio::test]
async fn a_repository_with_credentials_never_consults_the_shared_listings() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let url = server.url("repo.git");
    let with_creds = Repo::new(
        &url,
        Creds {
            username: http::USER.into(),
            password: http::PASSWORD.into(),
            ..Creds::default()
        },
    )
    .unwrap();
    let in_url = url.replacen(
        "http://",
        &format!("http://{}:{}@", http::USER, http::PASSWORD),
        1,
    );
    let in_url = Repo::new(&in_url, Creds::default()).unwrap();
    assert_eq!(with_creds.remote.key, in_url.remote.key);

    let board = Arc::new(Board::default());
    // A listing of the same URL shared by a replica: forged, so using it would show.
    let mut forged = Refs::default();
    forged.branches.push(("main".into(), "f".repeat(40)));
    board
        .values
        .lock()
        .insert(with_creds.remote.key.clone(), encode_refs(&forged));
    let main = Revision::new("main").unwrap();
    for repo in [&with_creds, &in_url] {
        let dir = tempfile::tempdir().unwrap();
        let (cache, listed) = replica(dir.path(), &board);
        for refresh in [Refresh::Cached, Refresh::Fresh] {
            let resolved = cache.resolve_with(repo, &main, "", refresh).await.unwrap();
            assert_eq!(resolved.sha, fixture.commits[4]);
        }
        assert_eq!(listed.load(SeqCst), 2);
    }
    assert_eq!(board.calls.load(SeqCst), 0, "the board was never consulted");
    assert_eq!(board.listing(&with_creds.remote.key), Some(forged));
}
