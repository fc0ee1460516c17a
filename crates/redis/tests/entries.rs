//! Entries on a real redis-server: names, encoding, TTLs, renames, locks, corruption.

mod common;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use common::{connected, settings, PATIENCE};
use repo_redis::{Compression, Error, Redis};
use repo_testkit::redis::{Instance, Options, Reply, Tools};

fn server() -> Option<Instance> {
    let tools = Tools::find()?;
    Some(Instance::server(&tools, &Options::default()))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn raw(server: &Instance, name: &str) -> Option<Vec<u8>> {
    match server.command(&["GET", name]) {
        Reply::Bulk(value) => value,
        other => panic!("GET {name}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_entries_are_named_and_encoded_as_upstream() {
    let Some(server) = server() else { return };
    let (redis, calls) = connected(settings(server.port)).await;
    assert_eq!(redis.get("mfst|a|b").await.unwrap(), None);
    redis
        .set("mfst|a|b", b"{\"x\":1}\n", Duration::from_secs(60))
        .await
        .unwrap();
    // Upstream's name: key|CacheVersion.gz, value gzip of the bytes.
    assert_eq!(raw(&server, "mfst|a|b|1.8.3"), None);
    let stored = raw(&server, "mfst|a|b|1.8.3.gz").expect("stored under upstream's name");
    assert_eq!(gunzip(&stored), b"{\"x\":1}\n");
    assert_eq!(
        redis.get("mfst|a|b").await.unwrap().as_deref(),
        Some(&b"{\"x\":1}\n"[..])
    );
    let ttl = server.command(&["PTTL", "mfst|a|b|1.8.3.gz"]);
    assert!(
        matches!(ttl, Reply::Int(ms) if ms > 0 && ms <= 60_000),
        "{ttl:?}"
    );
    assert_eq!(
        calls.0.lock().as_slice(),
        [("get", false), ("set", false), ("get", false)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_entries_with_a_prefix() {
    let Some(server) = server() else { return };
    let mut s = settings(server.port);
    s.compression = Compression::None;
    s.prefix = "team-a:".into();
    let (redis, _) = connected(s).await;
    redis
        .set(
            "git-refs|https://h/r",
            b"[[\"HEAD\",\"abc\"]]",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(
        raw(&server, "team-a:git-refs|https://h/r|1.8.3").as_deref(),
        Some(&b"[[\"HEAD\",\"abc\"]]"[..])
    );
    assert_eq!(raw(&server, "git-refs|https://h/r|1.8.3"), None);
    // Upstream writes entries too: what it stored is read back.
    server.command(&["SET", "team-a:mfst|up|1.8.3", "{\"from\":\"upstream\"}"]);
    assert_eq!(
        redis.get("mfst|up").await.unwrap().as_deref(),
        Some(&b"{\"from\":\"upstream\"}"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_are_renamed_and_deleted() {
    let Some(server) = server() else { return };
    let (redis, calls) = connected(settings(server.port)).await;
    redis
        .set("short", b"v", Duration::from_millis(50))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while redis.get("short").await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(!redis
        .rename("missing", "to", Duration::from_secs(60))
        .await
        .unwrap());
    redis
        .set("from", b"v1", Duration::from_secs(5))
        .await
        .unwrap();
    redis
        .set("to", b"old", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(redis
        .rename("from", "to", Duration::from_secs(600))
        .await
        .unwrap());
    assert_eq!(redis.get("from").await.unwrap(), None);
    assert_eq!(redis.get("to").await.unwrap().as_deref(), Some(&b"v1"[..]));
    // The renamed entry has the new TTL, not the source's.
    let ttl = server.command(&["PTTL", "to|1.8.3.gz"]);
    assert!(matches!(ttl, Reply::Int(ms) if ms > 5_000), "{ttl:?}");

    redis.delete("to").await.unwrap();
    assert_eq!(redis.get("to").await.unwrap(), None);
    // TTLs out of Redis' range are brought into it rather than refused.
    redis.set("forever", b"v", Duration::MAX).await.unwrap();
    redis.set("instant", b"v", Duration::ZERO).await.unwrap();
    redis.delete("to").await.unwrap();
    assert!(calls.0.lock().iter().all(|(_, failed)| !failed));
    assert!(calls.0.lock().contains(&("rename", false)));
    assert!(calls.0.lock().contains(&("del", false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_are_exclusive_and_only_their_owner_unlocks() {
    let Some(server) = server() else { return };
    let (a, _) = connected(settings(server.port)).await;
    let (b, _) = connected(settings(server.port)).await;
    let ttl = Duration::from_secs(60);
    assert!(a.try_lock("mfst|k", "owner-a", ttl).await.unwrap());
    assert!(!b.try_lock("mfst|k", "owner-b", ttl).await.unwrap());
    assert!(!a.try_lock("mfst|k", "owner-a", ttl).await.unwrap());
    assert_eq!(
        server.command(&["GET", "lock|mfst|k|1.8.3"]),
        Reply::Bulk(Some(b"owner-a".to_vec()))
    );
    // Another owner's unlock leaves the lock in place.
    b.unlock("mfst|k", "owner-b").await.unwrap();
    assert!(!b.try_lock("mfst|k", "owner-b", ttl).await.unwrap());
    a.unlock("mfst|k", "owner-a").await.unwrap();
    assert!(b.try_lock("mfst|k", "owner-b", ttl).await.unwrap());
    // The lock does not collide with the entry it guards.
    b.set("mfst|k", b"value", ttl).await.unwrap();
    assert!(!a.try_lock("mfst|k", "owner-a", ttl).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lock_can_be_taken() {
    let Some(server) = server() else { return };
    let (redis, _) = connected(settings(server.port)).await;
    assert!(redis
        .try_lock("k", "a", Duration::from_millis(30))
        .await
        .unwrap());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !redis
        .try_lock("k", "b", Duration::from_secs(60))
        .await
        .unwrap()
    {
        assert!(tokio::time::Instant::now() < deadline, "lock never expired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The first owner's late unlock does not release the second owner's lock.
    redis.unlock("k", "a").await.unwrap();
    assert!(!redis
        .try_lock("k", "c", Duration::from_secs(60))
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_does_not_decompress_is_corrupt() {
    let Some(server) = server() else { return };
    let (redis, calls) = connected(settings(server.port)).await;
    server.command(&["SET", "mfst|bad|1.8.3.gz", "not gzip at all"]);
    assert!(matches!(
        redis.get("mfst|bad").await,
        Err(Error::Corrupt(_))
    ));
    // A partial write: a valid gzip stream cut short.
    redis
        .set("mfst|cut", &[7u8; 4096], Duration::from_secs(60))
        .await
        .unwrap();
    let stored = raw(&server, "mfst|cut|1.8.3.gz").unwrap();
    let cut = &stored[..stored.len() / 2];
    server.command(&[b"SET".as_slice(), b"mfst|cut|1.8.3.gz", cut]);
    assert!(matches!(
        redis.get("mfst|cut").await,
        Err(Error::Corrupt(_))
    ));
    // Redis answered both GETs: not a Redis failure.
    assert!(calls.0.lock().iter().all(|(_, failed)| !failed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_round_trip() {
    let Some(server) = server() else { return };
    let (redis, _) = connected(settings(server.port)).await;
    let value: Vec<u8> = (0..1_000_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    redis
        .set("big", value.clone(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(redis.get("big").await.unwrap(), Some(value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_clone_closes_the_connection() {
    let Some(server) = server() else { return };
    let clients = |server: &Instance| {
        // Counts this fixture's own connection too.
        server.command(&["CLIENT", "LIST"]).text().lines().count()
    };
    let alone = clients(&server);
    let (redis, _) = connected(settings(server.port)).await;
    let clone = redis.clone();
    assert_eq!(clients(&server), alone + 1);
    drop(redis);
    clone.get("k").await.unwrap();
    drop(clone);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while clients(&server) != alone {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection left open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_go_to_the_configured_database() {
    let Some(server) = server() else { return };
    let mut s = settings(server.port);
    s.db = 3;
    let (redis, _) = connected(s).await;
    redis.set("k", b"v", Duration::from_secs(60)).await.unwrap();
    let keyspace = server.command(&["INFO", "keyspace"]).text();
    assert!(keyspace.contains("db3:keys=1"), "{keyspace}");
    assert!(!keyspace.contains("db0:"), "{keyspace}");
    assert_eq!(raw(&server, "k|1.8.3.gz"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_cannot_work_are_refused_at_once() {
    let mut s = settings(1);
    s.timeout = Duration::ZERO;
    assert!(matches!(Redis::new(s, Arc::new(())), Err(Error::Config(m)) if m.contains("timeout")));
    let mut s = settings(1);
    s.db = 256;
    assert!(
        matches!(Redis::new(s, Arc::new(())), Err(Error::Config(m)) if m.contains("--redisdb"))
    );
    let mut s = settings(1);
    s.server = repo_redis::Server::Sentinel {
        master: "m".into(),
        hosts: vec![],
    };
    assert!(
        matches!(Redis::new(s, Arc::new(())), Err(Error::Config(m)) if m.contains("--sentinel"))
    );
}
