//! Redis down, frozen, full: every call returns an error (never hangs), the client reconnects
//! by itself, and calls succeed again on the same `Redis`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connected, settings, Calls, PATIENCE};
use repo_redis::{Cause, Error, Redis};
use repo_testkit::redis::{Instance, Options, Tools};

/// A call that does not return within the patience bound is a hang: fail the test.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, call)
        .await
        .expect("a Redis call hung")
}

async fn until_ok(redis: &Redis) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while bounded(redis.set("k", b"v", Duration::from_secs(60)))
        .await
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_calls_fast_and_is_reconnected() {
    let Some(tools) = Tools::find() else { return };
    let mut server = Instance::server(&tools, &Options::default());
    let mut s = settings(server.port);
    s.timeout = Duration::from_secs(5);
    let (redis, calls) = connected(s).await;
    redis.set("k", b"v", Duration::from_secs(60)).await.unwrap();

    server.kill();
    // A call racing the drop may wait for its timeout; then the client knows it is down.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match bounded(redis.get("k")).await {
            Err(Error::Unavailable(_)) => break,
            Ok(_) | Err(Error::Timeout(_)) => {}
            Err(other) => panic!("{other}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "still answering");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While down, every call fails at once (not after its timeout), queued nowhere.
    for _ in 0..200 {
        let err = bounded(redis.get("k")).await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err}");
        let err = bounded(redis.try_lock("k", "o", Duration::from_secs(1)))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err}");
    }
    assert!(calls
        .0
        .lock()
        .iter()
        .rev()
        .take(400)
        .all(|(_, failed)| *failed));

    server.start();
    until_ok(&redis).await;
    // The server lost its data (no persistence): a miss, not an error.
    assert_eq!(redis.get("missing").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_at_start_is_connected_when_it_comes_up() {
    let Some(tools) = Tools::find() else { return };
    let mut server = Instance::server(&tools, &Options::default());
    server.stop();
    let calls = Arc::new(Calls::default());
    // Returns without waiting for the server.
    let redis = Redis::new(settings(server.port), calls.clone()).unwrap();
    let err = bounded(redis.get("k")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let err = bounded(redis.get("k")).await.unwrap_err();
        if let Error::Unavailable(Cause::Io(cause)) = &err {
            assert_eq!(cause, "Connection refused");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{err}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.start();
    until_ok(&redis).await;
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_times_out_then_recovers() {
    let Some(tools) = Tools::find() else { return };
    let server = Instance::server(&tools, &Options::default());
    let mut s = settings(server.port);
    s.timeout = Duration::from_millis(300);
    let (redis, calls) = connected(s).await;
    redis.set("k", b"v", Duration::from_secs(60)).await.unwrap();

    server.pause();
    for _ in 0..5 {
        let err = bounded(redis.get("k")).await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout(_) | Error::Unavailable(_)),
            "{err}"
        );
    }
    assert!(calls.0.lock().contains(&("get", true)));
    server.resume();
    until_ok(&redis).await;
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_refuses_writes_and_still_serves_reads() {
    let Some(tools) = Tools::find() else { return };
    let server = Instance::server(&tools, &Options::default());
    let (redis, calls) = connected(settings(server.port)).await;
    redis.set("k", b"v", Duration::from_secs(60)).await.unwrap();
    server.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.command(&["CONFIG", "SET", "maxmemory", "1"]);
    let err = redis
        .set("k2", b"v", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Refused(m) if m.starts_with("OOM")),
        "{err}"
    );
    let err = redis
        .try_lock("k2", "o", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Refused(m) if m.starts_with("OOM")),
        "{err}"
    );
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    // Deleting frees memory and is allowed.
    redis.delete("k").await.unwrap();
    assert!(calls.0.lock().contains(&("set", true)));
    server.command(&["CONFIG", "SET", "maxmemory", "0"]);
    redis
        .set("k2", b"v", Duration::from_secs(60))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_across_a_kill_all_return() {
    let Some(tools) = Tools::find() else { return };
    let mut server = Instance::server(&tools, &Options::default());
    let mut s = settings(server.port);
    s.timeout = Duration::from_secs(1);
    let (redis, calls) = connected(s).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (redis, stop) = (redis.clone(), stop.clone());
            tokio::spawn(async move {
                let key = format!("k{i}");
                while !stop.load(Ordering::Relaxed) {
                    let _ = bounded(redis.set(&key, b"v", Duration::from_secs(60))).await;
                    let _ = bounded(redis.get(&key)).await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let server = tokio::task::spawn_blocking(move || {
        server.kill();
        server
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let calls = calls.0.lock();
    assert!(calls.iter().any(|(_, failed)| !*failed));
    assert!(calls.iter().any(|(_, failed)| *failed));
    drop(server);
}
