//! Shared by the tests: settings for a loopback server and an observer that records calls.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use repo_redis::{Compression, Observer, Redis, Server, Settings};

/// Generous: only a bound against hanging.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn settings(port: u16) -> Settings {
    Settings {
        server: Server::Single {
            host: "127.0.0.1".into(),
            port,
        },
        db: 0,
        username: None,
        password: None,
        sentinel_username: None,
        sentinel_password: None,
        tls: None,
        compression: Compression::Gzip,
        prefix: String::new(),
        timeout: Duration::from_secs(2),
    }
}

/// Every command the client reported: (name, failed).
#[derive(Default)]
pub struct Calls(pub Mutex<Vec<(&'static str, bool)>>);

impl Observer for Calls {
    fn request(&self, command: &'static str, _took: Duration, failed: bool) {
        self.0.lock().push((command, failed));
    }
}

/// A connected client (a failed connection fails the test with the cause).
pub async fn connected(settings: Settings) -> (Redis, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let redis = Redis::new(settings, calls.clone()).unwrap();
    if !redis.wait_connected(PATIENCE).await {
        panic!("not connected: {:?}", redis.get("probe").await);
    }
    (redis, calls)
}
