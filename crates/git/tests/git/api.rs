//! The shape the gRPC server relies on: a shareable cache and Send futures.

use repo_git::{Cache, Revision};

fn shareable<T: Clone + Send + Sync + 'static>() {}

fn send<T: Send>(_: &T) {}

#[test]
fn cache_and_its_futures_cross_threads() {
    shareable::<Cache>();
    let dir = tempfile::tempdir().unwrap();
    let cache = crate::support::cache(dir.path());
    let repo = crate::support::repo("https://git.example/r.git");
    send(&cache.refs(&repo));
    send(&cache.resolve(&repo, &Revision::new("HEAD").unwrap(), ""));
    send(&cache.snapshot(&repo, ""));
    send(&cache.commit(&repo, ""));
    send(&cache.changed_paths(&repo, "", ""));
    send(&cache.test(&repo));
}
