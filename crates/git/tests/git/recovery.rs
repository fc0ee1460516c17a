//! Snapshots changed behind the cache's back, and the disk budget after a burst.

use std::path::Path;

use repo_git::Cache;

use crate::support::{self, Daemon, Fixture};

#[tokio::test]
async fn a_snapshot_deleted_on_disk_is_rebuilt() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = support::repo(&daemon.url("repo.git"));
    let sha = &fixture.commits[1];
    let path = cache
        .snapshot(&repo, sha)
        .await
        .unwrap()
        .path()
        .to_path_buf();
    std::fs::remove_dir_all(&path).unwrap();

    let again = cache.snapshot(&repo, sha).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(again.path().join("a.txt"))
            .ok()
            .as_deref(),
        Some("two\n"),
        "the deleted snapshot is served from the index"
    );
}

#[tokio::test]
async fn the_budget_holds_once_a_burst_of_snapshots_is_released() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::settings(dir.path());
    settings.budget_bytes = 1;
    let cache = Cache::new(settings).unwrap();
    let repo = support::repo(&daemon.url("repo.git"));
    // All in use at once, as in a burst of renders of different commits.
    let mut held = Vec::new();
    for sha in &fixture.commits {
        held.push(cache.snapshot(&repo, sha).await.unwrap());
    }
    assert_eq!(
        snapshots(&dir.path().join("snapshots")),
        fixture.commits.len()
    );
    drop(held);
    assert_eq!(
        snapshots(&dir.path().join("snapshots")),
        0,
        "idle snapshots stay over the budget"
    );
    let again = cache.snapshot(&repo, &fixture.commits[0]).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(again.path().join("a.txt")).unwrap(),
        "one\n"
    );
}

/// Snapshot directories under `snapshots/<id>/`.
fn snapshots(dir: &Path) -> usize {
    let Ok(repos) = std::fs::read_dir(dir) else {
        return 0;
    };
    repos
        .flatten()
        .map(|r| std::fs::read_dir(r.path()).map_or(0, |s| s.count()))
        .sum()
}
