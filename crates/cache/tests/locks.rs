//! `Manifests` with replica locks: two caches sharing one store and one lock table stand for
//! two replicas sharing Redis. Concurrency is staged with gates and counters; the timeout
//! tests run on tokio's paused clock, never on real time.
use parking_lot::Mutex;
use repo_cache::{
    Failure, Key, KeyBuilder, LockStats, Locks, Manifests, Memory, Pending, Settings,
};
use std::{
    collections::HashMap,
    future,
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc,
    },
    time::Duration,
};
use tokio::{
    sync::{watch, Semaphore},
    task::JoinSet,
    time::Instant,
};

const HOUR: Duration = Duration::from_secs(3600);

fn key(name: &str) -> Key {
    KeyBuilder::new().part("app", name.as_bytes()).build()
}

/// An in-memory lock table with Redis' semantics (`SET NX PX`, compare-and-delete), counting
/// its calls so a test can wait for a caller to reach it.
struct Table {
    held: Mutex<HashMap<Key, (String, Instant)>>,
    tries: watch::Sender<usize>,
    unlocks: watch::Sender<usize>,
}

impl Table {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            held: Mutex::default(),
            tries: watch::Sender::new(0),
            unlocks: watch::Sender::new(0),
        })
    }

    /// Another replica takes `key` and keeps it.
    fn hold(&self, key: &Key) {
        let until = Instant::now() + 100 * HOUR;
        self.held
            .lock()
            .insert(key.clone(), ("elsewhere".into(), until));
    }

    fn is_locked(&self, key: &Key) -> bool {
        self.held.lock().contains_key(key)
    }

    fn release(&self, key: &Key) {
        self.held.lock().remove(key);
    }
}

impl Locks for Table {
    fn try_lock<'a>(&'a self, key: &'a Key, owner: &'a str, ttl: Duration) -> Pending<'a, bool> {
        let now = Instant::now();
        let taken = {
            let mut held = self.held.lock();
            let free = held.get(key).is_none_or(|(_, until)| *until <= now);
            if free {
                held.insert(key.clone(), (owner.into(), now + ttl));
            }
            free
        };
        self.tries.send_modify(|n| *n += 1);
        Box::pin(future::ready(taken))
    }

    fn unlock<'a>(&'a self, key: &'a Key, owner: &'a str) -> Pending<'a, ()> {
        {
            let mut held = self.held.lock();
            if held.get(key).is_some_and(|(o, _)| o == owner) {
                held.remove(key);
            }
        }
        self.unlocks.send_modify(|n| *n += 1);
        Box::pin(future::ready(()))
    }
}

type Replica = Manifests<Arc<Memory>>;

fn replica(store: &Arc<Memory>, table: &Arc<Table>, timeout: Duration) -> Arc<Replica> {
    let cache = Manifests::new(store.clone(), Settings::default());
    Arc::new(cache.with_locks(table.clone(), timeout))
}

async fn call(
    cache: &Replica,
    key: Key,
    hard_refresh: bool,
    renders: &AtomicUsize,
    result: Result<&str, &str>,
) -> Result<String, Failure> {
    let value = cache
        .get_or_render(key, hard_refresh, || async {
            renders.fetch_add(1, SeqCst);
            result.map(|v| v.as_bytes().to_vec()).map_err(|m| Failure {
                code: 13,
                message: m.into(),
            })
        })
        .await?;
    Ok(String::from_utf8(value.to_vec()).expect("utf-8"))
}

fn sum(a: LockStats, b: LockStats) -> LockStats {
    LockStats {
        waited: a.waited + b.waited,
        answered: a.answered + b.answered,
        timeouts: a.timeouts + b.timeouts,
    }
}

#[tokio::test]
async fn two_replicas_render_a_burst_once() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let replicas = [replica(&store, &table, HOUR), replica(&store, &table, HOUR)];
    let renders = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let mut tries = table.tries.subscribe();
    let mut callers = JoinSet::new();
    for i in 0..40 {
        let (cache, renders, gate) = (replicas[i % 2].clone(), renders.clone(), gate.clone());
        callers.spawn(async move {
            cache
                .get_or_render(key("a"), false, move || async move {
                    renders.fetch_add(1, SeqCst);
                    // Closing is how the gate opens.
                    let _ = gate.acquire().await;
                    Ok(b"v".to_vec())
                })
                .await
        });
    }
    // Both replicas' leaders have tried the lock: one holds it, the other waits.
    tries.wait_for(|n| *n >= 2).await.unwrap();
    gate.close();
    while let Some(joined) = callers.join_next().await {
        assert_eq!(joined.unwrap().unwrap().as_slice(), b"v");
    }
    assert_eq!(renders.load(SeqCst), 1);
    let stats = sum(replicas[0].lock_stats(), replicas[1].lock_stats());
    assert_eq!(
        stats,
        LockStats {
            waited: 1,
            answered: 1,
            timeouts: 0
        }
    );
    assert!(!table.is_locked(&key("a")), "released after storing");
}

#[tokio::test(start_paused = true)]
async fn a_lock_held_elsewhere_times_out_and_renders_anyway() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let timeout = Duration::from_secs(10);
    let cache = replica(&store, &table, timeout);
    table.hold(&key("a"));
    let renders = AtomicUsize::new(0);
    let start = Instant::now();
    assert_eq!(
        call(&cache, key("a"), false, &renders, Ok("v")).await,
        Ok("v".into())
    );
    assert_eq!(renders.load(SeqCst), 1);
    assert!(start.elapsed() >= timeout, "waited for the timeout first");
    assert_eq!(
        cache.lock_stats(),
        LockStats {
            waited: 1,
            answered: 0,
            timeouts: 1
        }
    );
    // Polled with backoff, not in a busy loop: 20, 40, ... 250 ms steps over 10 s.
    assert!(
        *table.tries.borrow() < 50,
        "{} tries",
        *table.tries.borrow()
    );
}

#[tokio::test]
async fn a_waiter_takes_the_lock_once_it_is_free() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let cache = replica(&store, &table, HOUR);
    table.hold(&key("a"));
    let mut tries = table.tries.subscribe();
    let renders = Arc::new(AtomicUsize::new(0));
    let waiter = tokio::spawn({
        let (cache, renders) = (cache.clone(), renders.clone());
        async move { call(&cache, key("a"), false, &renders, Ok("v")).await }
    });
    tries.wait_for(|n| *n >= 1).await.unwrap();
    // The other replica gave up without storing anything (its render failed).
    table.release(&key("a"));
    assert_eq!(waiter.await.unwrap(), Ok("v".into()));
    assert_eq!(renders.load(SeqCst), 1);
    let stats = cache.lock_stats();
    assert_eq!((stats.waited, stats.answered, stats.timeouts), (1, 0, 0));
    assert!(!table.is_locked(&key("a")));
}

#[tokio::test]
async fn the_lock_is_released_after_a_failed_render() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let cache = replica(&store, &table, HOUR);
    let renders = AtomicUsize::new(0);
    assert!(call(&cache, key("a"), false, &renders, Err("boom"))
        .await
        .is_err());
    assert!(!table.is_locked(&key("a")));
    assert_eq!(*table.unlocks.borrow(), 1);
}

#[tokio::test]
async fn the_lock_is_released_after_a_panicking_render() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let cache = replica(&store, &table, HOUR);
    let mut unlocks = table.unlocks.subscribe();
    let lost = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_render(key("a"), false, || async { panic!("render failed hard") })
                .await
        }
    });
    assert!(lost.await.unwrap_err().is_panic());
    unlocks.wait_for(|n| *n >= 1).await.unwrap();
    assert!(!table.is_locked(&key("a")));
}

#[tokio::test(start_paused = true)]
async fn a_hard_refresh_does_not_wait_for_another_replica() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let cache = replica(&store, &table, HOUR);
    table.hold(&key("a"));
    let renders = AtomicUsize::new(0);
    let start = Instant::now();
    assert_eq!(
        call(&cache, key("a"), true, &renders, Ok("v")).await,
        Ok("v".into())
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(cache.lock_stats(), LockStats::default());
    assert_eq!(*table.tries.borrow(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_disables_locking() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let cache = replica(&store, &table, Duration::ZERO);
    table.hold(&key("a"));
    let renders = AtomicUsize::new(0);
    let start = Instant::now();
    call(&cache, key("a"), false, &renders, Ok("v"))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(*table.tries.borrow(), 0);
}

#[tokio::test]
async fn a_stored_answer_needs_no_lock() {
    let (store, table) = (Arc::new(Memory::new(1 << 20)), Table::new());
    let (a, b) = (replica(&store, &table, HOUR), replica(&store, &table, HOUR));
    let renders = AtomicUsize::new(0);
    call(&a, key("a"), false, &renders, Ok("v")).await.unwrap();
    let tries = *table.tries.borrow();
    assert_eq!(
        call(&b, key("a"), false, &renders, Ok("w")).await,
        Ok("v".into())
    );
    assert_eq!(renders.load(SeqCst), 1);
    assert_eq!(*table.tries.borrow(), tries);
}
