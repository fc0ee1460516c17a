//! The shape the gRPC server relies on: a shareable cache and Send futures.

use repo_git::{Cache, Repo};

fn shareable<T: Clone + Send + Sync + 'static>() {}

fn send<T: Send>(_: &T) {}

#[test]
fn cache_and_its_futures_cross_threads() {
    shareable::<Cache>();
    let dir = tempfile::tempdir().unwrap();
    let cache = crate::support::cache(dir.path());
    let repo = Repo::default();
    send(&cache.refs(&repo));
    send(&cache.resolve(&repo, "HEAD", ""));
    send(&cache.snapshot(&repo, ""));
    send(&cache.commit(&repo, ""));
    send(&cache.changed_paths(&repo, "", ""));
    send(&cache.test(&repo));
}
