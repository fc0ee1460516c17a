//! Commit metadata and changed paths.

use repo_git::Error;

use crate::support::{self, Daemon, Fixture};

#[tokio::test]
async fn commit_metadata_and_changed_paths() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = support::repo(&daemon.url("repo.git"));
    let c = &fixture.commits;

    let first = cache.commit(&repo, &c[0]).await.unwrap();
    assert_eq!(first.author, "A U Thor <author@example.com>");
    assert_eq!(first.date, 1_700_000_000);
    assert_eq!(first.message, "first");
    assert_eq!(first.tags, ["light", "v1.0.0"]);
    let fifth = cache.commit(&repo, &c[4]).await.unwrap();
    assert_eq!(fifth.message, "fifth\n\nwith a body");
    assert_eq!(fifth.date, 1_700_000_000 + 4 * 60);
    assert_eq!(fifth.tags, ["v1.3.0-rc1", "v2.0.0"]);

    // The rename shows both paths, so a file moved out of a watched directory counts.
    let mut changed = cache.changed_paths(&repo, &c[2], &c[4]).await.unwrap();
    changed.sort();
    assert_eq!(changed, ["a.txt", "dir/b.yaml", "dir/c.yaml"]);
    assert!(cache
        .changed_paths(&repo, &c[4], &c[4])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        cache.changed_paths(&repo, &c[4], &c[5]).await.unwrap(),
        ["pr.txt"]
    );

    let err = cache.changed_paths(&repo, "main", &c[4]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let err = cache.commit(&repo, unknown).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}
