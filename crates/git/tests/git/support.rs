//! Servers, repositories and tool checks shared by the tests.

pub(crate) mod daemon;
pub(crate) mod fixture;
pub(crate) mod http;
pub(crate) mod lfs;
pub(crate) mod proxy;
pub(crate) mod sshd;

use std::path::Path;
use std::time::Duration;

pub(crate) use daemon::Daemon;
pub(crate) use fixture::Fixture;
pub(crate) use http::Http;
pub(crate) use lfs::Lfs;
pub(crate) use proxy::Proxy;
pub(crate) use sshd::Sshd;

use repo_git::{Cache, Creds, Repo, Settings};

/// Whether a test may run: a missing tool fails under CI=true and skips, with the reason,
/// elsewhere.
pub(crate) fn available(ok: bool, why: &str) -> bool {
    if !ok {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipping: {why}");
    }
    ok
}

/// A cache in a fresh directory with test-friendly settings.
pub(crate) fn cache(dir: &Path) -> Cache {
    Cache::new(settings(dir)).expect("cache")
}

pub(crate) fn settings(dir: &Path) -> Settings {
    Settings {
        dir: dir.to_path_buf(),
        budget_bytes: u64::MAX,
        allow_file: false,
        timeout: Duration::from_secs(20),
        ref_cache_ttl: Duration::from_secs(60),
        ..Settings::new(dir)
    }
}

pub(crate) fn repo(url: &str) -> Repo {
    Repo::new(url, Creds::default()).unwrap()
}

/// A free loopback port (bound, then released for a server that needs an explicit port).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Waits until something accepts connections on the port.
pub(crate) fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}
