//! Sentinel: the client finds the master through the sentinels (with their own credentials),
//! and when the master dies mid-load, calls keep returning and resume on the promoted replica.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connected, settings, PATIENCE};
use repo_redis::{Cause, Error, Redis, Secret, Server, Settings, Tls};
use repo_testkit::redis::{Group, Options, Reply, Tools, MASTER};

const PASSWORD: &str = "data-pw-3";
const SENTINEL_PASSWORD: &str = "sentinel-pw-5";

fn sentinel_settings(group: &Group) -> Settings {
    let mut s = settings(0);
    s.server = Server::Sentinel {
        master: MASTER.into(),
        hosts: group.hosts(),
    };
    s.password = Some(Secret::new(PASSWORD));
    s.sentinel_password = Some(Secret::new(SENTINEL_PASSWORD));
    s.timeout = Duration::from_secs(2);
    s
}

fn group() -> Option<Group> {
    let tools = Tools::find()?;
    Some(Group::start(
        &tools,
        &Options {
            password: Some(PASSWORD.into()),
            ..Options::default()
        },
        Some(SENTINEL_PASSWORD),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sentinel_credentials_name_the_sentinel_settings() {
    let Some(group) = group() else { return };
    let mut s = sentinel_settings(&group);
    s.sentinel_password = Some(Secret::new("not-it-11"));
    let redis = Redis::new(s, Arc::new(())).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let err = loop {
        match redis.get("k").await {
            Err(Error::Unavailable(Cause::NotConnected)) => {}
            Err(err) => break err,
            Ok(v) => panic!("read {v:?} through sentinels with a wrong password"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        matches!(err, Error::Unavailable(Cause::Sentinel(_))),
        "{err}"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("REDIS_SENTINEL_PASSWORD"), "{text}");
    assert!(!text.contains("not-it-11"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_fails_over_to_the_replica_without_hanging_calls() {
    let Some(mut group) = group() else { return };
    let (redis, _) = connected(sentinel_settings(&group)).await;
    redis
        .set("before", b"1", Duration::from_secs(600))
        .await
        .unwrap();
    let old = group.master_port();
    assert_eq!(old, group.master.port);

    // A load of operations runs throughout; each must return.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (redis, stop, ok, failed) = (redis.clone(), stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let key = format!("load|{}", i % 50);
                let set =
                    tokio::time::timeout(PATIENCE, redis.set(&key, b"v", Duration::from_secs(600)))
                        .await
                        .expect("set hung");
                let get = tokio::time::timeout(PATIENCE, redis.get(&key))
                    .await
                    .expect("get hung");
                let counter = if set.is_ok() && get.is_ok() {
                    &ok
                } else {
                    &failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    group.master.kill();

    let deadline = std::time::Instant::now() + PATIENCE;
    let group = tokio::task::spawn_blocking(move || {
        while group.master_port() == old {
            assert!(std::time::Instant::now() < deadline, "no failover");
            std::thread::sleep(Duration::from_millis(50));
        }
        group
    })
    .await
    .unwrap();
    assert_eq!(group.master_port(), group.replica.port);

    // Operations resume against the promoted replica, on the same client.
    let resumed = ok.load(Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while ok.load(Ordering::Relaxed) < resumed + 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "operations never resumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    redis
        .set("after", b"2", Duration::from_secs(600))
        .await
        .unwrap();
    let promoted = &group.replica;
    assert!(matches!(
        promoted.command(&["GET", "after|1.8.3.gz"]),
        Reply::Bulk(Some(_))
    ));
    // Replicated before the failover.
    assert_eq!(
        redis.get("before").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    eprintln!(
        "load: {} rounds ok, {} failed during the failover",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_master_is_left_for_the_new_one() {
    let Some(group) = group() else { return };
    let (redis, _) = connected(sentinel_settings(&group)).await;
    redis
        .set("k", b"1", Duration::from_secs(600))
        .await
        .unwrap();
    let old = group.master_port();
    // A manual failover: the old master stays up and turns into a read-only replica.
    assert_eq!(
        group.sentinels[0].command(&["SENTINEL", "FAILOVER", MASTER]),
        Reply::Simple("OK".into())
    );
    let group = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + PATIENCE;
        while group.master_port() == old {
            assert!(std::time::Instant::now() < deadline, "no failover");
            std::thread::sleep(Duration::from_millis(50));
        }
        group
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while redis
        .set("k", b"2", Duration::from_secs(600))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never resumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
    let new = &group.replica;
    assert_eq!(group.master_port(), new.port);
    assert!(matches!(
        new.command(&["GET", "k|1.8.3.gz"]),
        Reply::Bulk(Some(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_and_servers_over_tls_with_a_client_certificate() {
    let Some(tools) = Tools::find() else { return };
    let options = Options {
        password: Some(PASSWORD.into()),
        tls: true,
        ..Options::default()
    };
    let group = Group::start(&tools, &options, Some(SENTINEL_PASSWORD));
    let files = group.master.tls.clone().unwrap();
    let mut s = sentinel_settings(&group);
    s.tls = Some(Tls {
        ca: Some(files.ca.clone()),
        client: None,
        insecure_skip_verify: false,
    });
    // The sentinels require a client certificate too.
    let redis = Redis::new(s.clone(), Arc::new(())).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let err = loop {
        match redis.get("k").await {
            Err(Error::Unavailable(Cause::NotConnected)) => {}
            Err(err) => break err,
            Ok(v) => panic!("read {v:?} without a client certificate"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        matches!(err, Error::Unavailable(Cause::Sentinel(_) | Cause::Tls(_))),
        "{err}"
    );

    s.tls = Some(Tls {
        ca: Some(files.ca),
        client: Some((files.client_cert, files.client_key)),
        insecure_skip_verify: false,
    });
    let (redis, _) = connected(s).await;
    redis
        .set("k", b"1", Duration::from_secs(600))
        .await
        .unwrap();
    let old = group.master_port();
    assert_eq!(
        group.sentinels[0].command(&["SENTINEL", "FAILOVER", MASTER]),
        Reply::Simple("OK".into())
    );
    let group = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + PATIENCE;
        while group.master_port() == old {
            assert!(std::time::Instant::now() < deadline, "no failover");
            std::thread::sleep(Duration::from_millis(50));
        }
        group
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while redis
        .set("k", b"2", Duration::from_secs(600))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never resumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(group.master_port(), group.replica.port);
    assert!(matches!(
        group.replica.command(&["GET", "k|1.8.3.gz"]),
        Reply::Bulk(Some(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_through_the_sentinels() {
    let Some(tools) = Tools::find() else { return };
    let options = Options {
        user: Some(("argocd".into(), PASSWORD.into())),
        ..Options::default()
    };
    let group = Group::start(&tools, &options, None);
    let mut s = sentinel_settings(&group);
    s.sentinel_password = None;
    s.username = Some("argocd".into());
    let (redis, _) = connected(s).await;
    redis
        .set("k", b"v", Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    // Replicated with the same user.
    group.replica.wait_until("replicated", |r| {
        matches!(r.command(&["GET", "k|1.8.3.gz"]), Reply::Bulk(Some(_)))
    });
}
