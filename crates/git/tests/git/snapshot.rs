//! Snapshots: sharing, parallelism, eviction, and recovery from killed fetches and crashes.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use repo_git::{Cache, Creds, Error, Repo, Revision};

use crate::support::{self, http, Daemon, Fixture, Http, Proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_share_snapshots_and_one_fetch() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let repo = Repo::new(
        &server.url("repo.git"),
        Creds {
            username: http::USER.into(),
            password: http::PASSWORD.into(),
            ..Creds::default()
        },
    )
    .unwrap();
    // Cold: the first request fetches, the others find their commit once it is done.
    let cold = tempfile::tempdir().unwrap();
    let cache = support::cache(cold.path());
    check_shared(&fixture, &cache, &repo).await;
    assert_eq!(
        server.adverts.load(Ordering::SeqCst),
        1,
        "fetched once for all"
    );

    // Warm mirror: every request goes straight to building, racing for the same commits.
    let warm = tempfile::tempdir().unwrap();
    let cache = support::cache(warm.path());
    cache.commit(&repo, &fixture.commits[4]).await.unwrap();
    check_shared(&fixture, &cache, &repo).await;
    assert_eq!(
        server.adverts.load(Ordering::SeqCst),
        2,
        "no fetch for present commits"
    );
}

/// 8 concurrent requests for 4 commits: one snapshot per commit, shared, with its content.
async fn check_shared(fixture: &Fixture, cache: &Cache, repo: &Repo) {
    let wanted = [0, 1, 2, 4];
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let (cache, repo) = (cache.clone(), repo.clone());
            let index = wanted[i % 4];
            let sha = fixture.commits[index].clone();
            tokio::spawn(async move { (index, cache.snapshot(&repo, &sha).await.unwrap()) })
        })
        .collect();
    let mut snapshots = Vec::new();
    for call in calls {
        snapshots.push(call.await.unwrap());
    }
    let expected = ["one\n", "two\n", "three\n", "", "five\n"];
    for (index, snapshot) in &snapshots {
        assert_eq!(snapshot.sha(), fixture.commits[*index]);
        let text = std::fs::read_to_string(snapshot.path().join("a.txt")).unwrap();
        assert_eq!(text, expected[*index]);
        for (other_index, other) in &snapshots {
            assert_eq!(
                index == other_index,
                Arc::ptr_eq(snapshot, other),
                "one shared snapshot per commit"
            );
            assert_eq!(index == other_index, snapshot.path() == other.path());
        }
    }
}

#[tokio::test]
async fn killed_fetch_leaves_nothing_and_a_retry_succeeds() {
    let mut fixture = Fixture::new();
    // Incompressible, so the pack is far bigger than what the stalling relay lets through.
    let big = noise(3 << 20);
    let sha = fixture.commit(&[("big.bin", &big)], "big");
    fixture.publish();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let proxy = Proxy::start(daemon.port).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::settings(dir.path());
    settings.timeout = Duration::from_secs(2);
    let cache = Cache::new(settings).unwrap();
    let repo = support::repo(&format!("git://127.0.0.1:{}/repo.git", proxy.port));

    let err = cache.snapshot(&repo, &sha).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(proxy.stalled(), "the fetch was cut off mid-pack");
    let garbage = leftovers(&dir.path().join("repos"));
    assert!(garbage.is_empty(), "after the kill: {garbage:?}");

    proxy.heal();
    let snapshot = cache.snapshot(&repo, &sha).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(snapshot.path().join("big.bin")).unwrap(),
        big
    );
    assert!(leftovers(&dir.path().join("repos")).is_empty());
}

#[tokio::test]
async fn budget_evicts_idle_snapshots_only() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::settings(dir.path());
    settings.budget_bytes = 1;
    let cache = Cache::new(settings).unwrap();
    let repo = support::repo(&daemon.url("repo.git"));
    let c = &fixture.commits;

    let held = cache.snapshot(&repo, &c[0]).await.unwrap();
    let idle = cache.snapshot(&repo, &c[1]).await.unwrap();
    let idle_path = idle.path().to_path_buf();
    drop(idle);
    let newest = cache.snapshot(&repo, &c[2]).await.unwrap();
    assert!(
        !idle_path.exists(),
        "an idle snapshot over budget is evicted"
    );
    assert!(
        held.path().join("a.txt").exists(),
        "a snapshot in use is kept"
    );
    assert!(newest.path().join("a.txt").exists());

    let held_path = held.path().to_path_buf();
    drop((held, newest));
    let again = cache.snapshot(&repo, &c[1]).await.unwrap();
    assert_eq!(again.path(), idle_path, "rebuilt in the same place");
    assert!(!held_path.exists(), "evicted once idle");
    assert_eq!(
        std::fs::read_to_string(again.path().join("a.txt")).unwrap(),
        "two\n"
    );
}

#[tokio::test]
async fn restart_reuses_snapshots_and_sweeps_leftovers() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = support::repo(&daemon.url("repo.git"));
    let sha = fixture.commits[2].clone();
    let path = {
        let cache = support::cache(dir.path());
        cache
            .snapshot(&repo, &sha)
            .await
            .unwrap()
            .path()
            .to_path_buf()
    };
    // What a crash in the middle of a fetch and of a snapshot build would leave.
    let mirror = only_child(&dir.path().join("repos"));
    let planted = [
        mirror.join("objects/pack/tmp_pack_XyZ123"),
        mirror.join("objects/pack/tmp_idx_XyZ123"),
        mirror.join("refs/heads/main.lock"),
        mirror.join("shallow.lock"),
        dir.path().join("tmp/snapshot-abc/tree/a.txt"),
    ];
    for file in &planted {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "partial").unwrap();
    }
    drop(daemon);

    let cache = support::cache(dir.path());
    for file in &planted {
        assert!(!file.exists(), "{} survived the restart", file.display());
    }
    assert!(std::fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());
    // The server is gone: the snapshot comes from disk.
    let snapshot = cache.snapshot(&repo, &sha).await.unwrap();
    assert_eq!(snapshot.path(), path);
    assert_eq!(
        std::fs::read_to_string(snapshot.path().join("a.txt")).unwrap(),
        "three\n"
    );
}

#[tokio::test]
async fn orphaned_snapshot_directory_is_replaced() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Snapshots with submodules live under another id; this one is the plain id's.
    let settings = repo_git::Settings {
        submodules: false,
        ..support::settings(dir.path())
    };
    let cache = Cache::new(settings).unwrap();
    let url = daemon.url("repo.git");
    let sha = &fixture.commits[1];
    // What a build cancelled between publishing and indexing leaves.
    // Directory names are keyed with the cache's secret (layout.rs).
    let key = std::fs::read(dir.path().join("key")).unwrap();
    let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        [key, repo_git::normalize(&url).into_bytes()].concat(),
    ));
    let orphan = dir.path().join("snapshots").join(id).join(sha);
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("stale.txt"), "x").unwrap();

    let snapshot = cache.snapshot(&support::repo(&url), sha).await.unwrap();
    assert_eq!(snapshot.path(), orphan);
    assert!(!orphan.join("stale.txt").exists());
    assert_eq!(
        std::fs::read_to_string(orphan.join("a.txt")).unwrap(),
        "two\n"
    );
}

/// Deterministic incompressible text.
fn noise(len: usize) -> String {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect()
}

/// Temporary packs, objects and lock files anywhere under `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            found.extend(leftovers(&path));
        } else if name.starts_with("tmp_") || name.ends_with(".lock") || name.ends_with(".keep") {
            found.push(path);
        }
    }
    found
}

fn only_child(dir: &Path) -> PathBuf {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_on_a_cold_repository_is_the_only_fetch() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let requests = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = requests.clone();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(repo_git::Settings {
        observer: Some(repo_git::Observer::new(move |r| {
            seen.lock().push((r.kind, r.ok));
        })),
        ..support::settings(dir.path())
    })
    .unwrap();
    let repo = support::repo(&daemon.url("repo.git"));

    cache.prefetch(&repo);
    cache.prefetch(&repo); // already under way: nothing more
    let resolved = cache
        .resolve(&repo, &Revision::new("HEAD").unwrap(), "")
        .await
        .unwrap();
    let snapshot = cache.snapshot(&repo, &resolved.sha).await.unwrap();
    assert_eq!(snapshot.sha(), fixture.commits[4], "HEAD is main");
    // Once every spawned task has ended, all that was ever fetched has been reported.
    settled().await;
    cache.prefetch(&repo); // known repository: nothing
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        0,
        "a prefetch of a known repository started work"
    );
    let mut kinds = requests.lock().clone();
    kinds.sort();
    assert_eq!(kinds, [("fetch", true), ("ls-remote", true)]);
}

/// Waits until the runtime has no task left (the cache's prefetches run as tasks).
async fn settled() {
    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..3000 {
        if metrics.num_alive_tasks() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} tasks still running", metrics.num_alive_tasks());
}
