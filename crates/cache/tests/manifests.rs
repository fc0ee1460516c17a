//! `Manifests` through its public API. Concurrency is staged with gates and counters, never
//! with sleeps or timings.
use parking_lot::Mutex;
use repo_cache::{
    Clock, Entry, Failure, Key, KeyBuilder, Manifests, Memory, Pending, Settings, Slot, Store,
};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Arc,
    },
    time::{Duration, SystemTime},
};
use tokio::{
    sync::{oneshot, watch, Semaphore},
    task::JoinSet,
};

const MINUTE: Duration = Duration::from_secs(60);
const CACHED: &str = "Manifest generation error (cached): ";

fn key(name: &str) -> Key {
    KeyBuilder::new().part("app", name.as_bytes()).build()
}

fn boom(message: &str) -> Failure {
    Failure {
        code: 13,
        message: message.into(),
    }
}

/// One render call: counts itself, then answers `result`.
async fn call<S: Store>(
    cache: &Manifests<S>,
    key: Key,
    hard_refresh: bool,
    renders: &AtomicUsize,
    result: Result<&str, &str>,
) -> Result<String, Failure> {
    let value = cache
        .get_or_render(key, hard_refresh, || async {
            renders.fetch_add(1, SeqCst);
            result.map(|v| v.as_bytes().to_vec()).map_err(boom)
        })
        .await?;
    Ok(String::from_utf8(value.to_vec()).expect("utf-8"))
}

/// Holds renders until opened.
#[derive(Clone)]
struct Gate(Arc<Semaphore>);

impl Gate {
    fn new() -> Self {
        Self(Arc::new(Semaphore::new(0)))
    }

    async fn wait(&self) {
        // Closing is how the gate opens, so the error is the signal.
        let _ = self.0.acquire().await;
    }

    fn open(&self) {
        self.0.close();
    }
}

/// A `Memory` store that reports how many lookups it has answered, so a test can wait until
/// callers are past their cache check.
struct Counting {
    memory: Memory,
    gets: watch::Sender<usize>,
}

impl Counting {
    fn new() -> (Self, watch::Receiver<usize>) {
        let (gets, rx) = watch::channel(0);
        let memory = Memory::new(1 << 20);
        (Self { memory, gets }, rx)
    }
}

impl Store for Counting {
    fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>> {
        self.gets.send_modify(|n| *n += 1);
        self.memory.get(key)
    }

    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()> {
        self.memory.put(key, entry)
    }

    fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()> {
        self.memory.remove(key)
    }
}

#[derive(Clone)]
struct Manual(Arc<Mutex<SystemTime>>);

impl Manual {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(SystemTime::UNIX_EPOCH)))
    }

    fn set(&self, since_epoch: Duration) {
        *self.0.lock() = SystemTime::UNIX_EPOCH + since_epoch;
    }
}

impl Clock for Manual {
    fn now(&self) -> SystemTime {
        *self.0.lock()
    }
}

fn memory() -> Memory {
    Memory::new(1 << 20)
}

#[tokio::test]
async fn miss_renders_then_hits() {
    let cache = Manifests::new(memory(), Settings::default());
    let renders = AtomicUsize::new(0);
    assert_eq!(
        call(&cache, key("a"), false, &renders, Ok("v1")).await,
        Ok("v1".into())
    );
    assert_eq!(
        call(&cache, key("a"), false, &renders, Ok("v2")).await,
        Ok("v1".into())
    );
    assert_eq!(renders.load(SeqCst), 1);
    assert_eq!(
        call(&cache, key("b"), false, &renders, Ok("b")).await,
        Ok("b".into())
    );
    assert_eq!(renders.load(SeqCst), 2);
    let metrics = cache.store().metrics();
    assert_eq!((metrics.hits, metrics.entries), (1, 2));
}

#[tokio::test]
async fn hard_refresh_renders_and_replaces() {
    let cache = Manifests::new(memory(), Settings::default());
    let renders = AtomicUsize::new(0);
    call(&cache, key("a"), false, &renders, Ok("old"))
        .await
        .unwrap();
    assert_eq!(
        call(&cache, key("a"), true, &renders, Ok("new")).await,
        Ok("new".into())
    );
    assert_eq!(renders.load(SeqCst), 2);
    assert_eq!(
        call(&cache, key("a"), false, &renders, Ok("x")).await,
        Ok("new".into())
    );
    assert_eq!(renders.load(SeqCst), 2);
}

#[tokio::test]
async fn a_value_the_store_cannot_keep_is_still_answered() {
    let cache = Manifests::new(Memory::new(0), Settings::default());
    let renders = AtomicUsize::new(0);
    for _ in 0..2 {
        assert_eq!(
            call(&cache, key("a"), false, &renders, Ok("v")).await,
            Ok("v".into())
        );
    }
    assert_eq!(renders.load(SeqCst), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_render() {
    let (store, mut gets) = Counting::new();
    let cache = Arc::new(Manifests::new(store, Settings::default()));
    let renders = Arc::new(AtomicUsize::new(0));
    let gate = Gate::new();
    let mut callers = JoinSet::new();
    for _ in 0..100 {
        let (cache, renders, gate) = (cache.clone(), renders.clone(), gate.clone());
        callers.spawn(async move {
            cache
                .get_or_render(key("a"), false, move || async move {
                    renders.fetch_add(1, SeqCst);
                    gate.wait().await;
                    Ok(b"v".to_vec())
                })
                .await
        });
    }
    // Every caller has missed the cache before the render may finish.
    gets.wait_for(|n| *n >= 100).await.unwrap();
    gate.open();
    let mut answered = 0;
    while let Some(joined) = callers.join_next().await {
        assert_eq!(joined.unwrap().unwrap().as_slice(), b"v");
        answered += 1;
    }
    assert_eq!(answered, 100);
    assert_eq!(renders.load(SeqCst), 1);
}

#[tokio::test]
async fn a_shared_failure_counts_once() {
    let (store, mut gets) = Counting::new();
    let cache = Arc::new(Manifests::new(store, Settings::default()));
    let renders = Arc::new(AtomicUsize::new(0));
    let gate = Gate::new();
    let mut callers = JoinSet::new();
    for _ in 0..10 {
        let (cache, renders, gate) = (cache.clone(), renders.clone(), gate.clone());
        callers.spawn(async move {
            cache
                .get_or_render(key("a"), false, move || async move {
                    renders.fetch_add(1, SeqCst);
                    gate.wait().await;
                    Err(boom("boom"))
                })
                .await
        });
    }
    gets.wait_for(|n| *n >= 10).await.unwrap();
    gate.open();
    while let Some(joined) = callers.join_next().await {
        assert_eq!(joined.unwrap(), Err(boom("boom")));
    }
    assert_eq!(renders.load(SeqCst), 1);
    // One failure so far: two more before the pause.
    for _ in 0..2 {
        call(&cache, key("a"), false, &renders, Err("boom"))
            .await
            .unwrap_err();
    }
    assert_eq!(renders.load(SeqCst), 3);
    let paused = call(&cache, key("a"), false, &renders, Ok("v")).await;
    assert_eq!(paused, Err(boom(&format!("{CACHED}boom"))));
    assert_eq!(renders.load(SeqCst), 3);
}

/// Starts one gated render per key and reports the most renders seen running at once.
async fn max_running(parallelism: usize, keys: usize) -> usize {
    let settings = Settings {
        parallelism,
        ..Settings::default()
    };
    let cache = Arc::new(Manifests::new(memory(), settings));
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (started, mut seen) = watch::channel(0);
    let started = Arc::new(started);
    let gate = Gate::new();
    let mut callers = JoinSet::new();
    for i in 0..keys {
        let (cache, running, max, started, gate) = (
            cache.clone(),
            running.clone(),
            max.clone(),
            started.clone(),
            gate.clone(),
        );
        callers.spawn(async move {
            let value = cache
                .get_or_render(key(&i.to_string()), false, move || async move {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    max.fetch_max(now, SeqCst);
                    started.send_modify(|n| *n += 1);
                    gate.wait().await;
                    running.fetch_sub(1, SeqCst);
                    Ok(i.to_string().into_bytes())
                })
                .await;
            assert_eq!(value.unwrap().as_slice(), i.to_string().as_bytes());
        });
    }
    let expected = if parallelism == 0 {
        keys
    } else {
        parallelism.min(keys)
    };
    seen.wait_for(|n| *n >= expected).await.unwrap();
    assert_eq!(running.load(SeqCst), expected);
    gate.open();
    while let Some(joined) = callers.join_next().await {
        joined.unwrap();
    }
    assert_eq!(*seen.borrow(), keys);
    max.load(SeqCst)
}

#[tokio::test]
async fn renders_run_concurrently_up_to_the_limit() {
    assert_eq!(max_running(3, 10).await, 3);
}

#[tokio::test]
async fn zero_parallelism_is_unlimited() {
    assert_eq!(max_running(0, 10).await, 10);
}

#[tokio::test]
async fn pauses_after_failures_until_the_time_is_up() {
    let clock = Manual::new();
    let cache = Manifests::new(memory(), Settings::default()).with_clock(clock.clone());
    let renders = AtomicUsize::new(0);
    let a = key("a");
    for minute in 0..3 {
        clock.set(minute * MINUTE);
        assert_eq!(
            call(&cache, a.clone(), false, &renders, Err("boom")).await,
            Err(boom("boom"))
        );
    }
    assert_eq!(renders.load(SeqCst), 3);

    // Measured from the first failure, not the last.
    clock.set(60 * MINUTE - Duration::from_secs(1));
    let paused = call(&cache, a.clone(), false, &renders, Ok("v")).await;
    assert_eq!(paused, Err(boom(&format!("{CACHED}boom"))));
    assert_eq!(renders.load(SeqCst), 3);

    // Over: the record is forgotten, so pausing again takes three fresh failures, and the
    // time runs from the first of them.
    clock.set(60 * MINUTE);
    for _ in 0..3 {
        assert_eq!(
            call(&cache, a.clone(), false, &renders, Err("again")).await,
            Err(boom("again"))
        );
    }
    assert_eq!(renders.load(SeqCst), 6);
    clock.set(119 * MINUTE);
    let paused = call(&cache, a.clone(), false, &renders, Ok("v")).await;
    assert_eq!(paused, Err(boom(&format!("{CACHED}again"))));
    assert_eq!(renders.load(SeqCst), 6);

    clock.set(120 * MINUTE);
    assert_eq!(
        call(&cache, a.clone(), false, &renders, Ok("v")).await,
        Ok("v".into())
    );
    assert_eq!(
        call(&cache, a.clone(), false, &renders, Ok("w")).await,
        Ok("v".into())
    );
    assert_eq!(renders.load(SeqCst), 7);
}

#[tokio::test]
async fn pause_ends_after_the_requests() {
    let settings = Settings {
        pause_for: Duration::ZERO,
        pause_for_requests: 2,
        ..Settings::default()
    };
    let cache = Manifests::new(memory(), settings).with_clock(Manual::new());
    let renders = AtomicUsize::new(0);
    for _ in 0..3 {
        call(&cache, key("a"), false, &renders, Err("boom"))
            .await
            .unwrap_err();
    }
    for _ in 0..2 {
        let paused = call(&cache, key("a"), false, &renders, Ok("v")).await;
        assert_eq!(paused, Err(boom(&format!("{CACHED}boom"))));
    }
    assert_eq!(renders.load(SeqCst), 3);
    assert_eq!(
        call(&cache, key("a"), false, &renders, Ok("v")).await,
        Ok("v".into())
    );
    assert_eq!(renders.load(SeqCst), 4);
}

#[tokio::test]
async fn hard_refresh_ignores_a_paused_failure() {
    let cache = Manifests::new(memory(), Settings::default()).with_clock(Manual::new());
    let renders = AtomicUsize::new(0);
    for _ in 0..3 {
        call(&cache, key("a"), false, &renders, Err("boom"))
            .await
            .unwrap_err();
    }
    assert_eq!(
        call(&cache, key("a"), true, &renders, Ok("v")).await,
        Ok("v".into())
    );
    assert_eq!(
        call(&cache, key("a"), false, &renders, Ok("w")).await,
        Ok("v".into())
    );
    assert_eq!(renders.load(SeqCst), 4);
}

#[tokio::test]
async fn failures_are_not_cached_when_disabled() {
    let settings = Settings {
        pause_after_failures: 0,
        ..Settings::default()
    };
    let cache = Manifests::new(memory(), settings);
    let renders = AtomicUsize::new(0);
    for _ in 0..5 {
        assert_eq!(
            call(&cache, key("a"), false, &renders, Err("boom")).await,
            Err(boom("boom"))
        );
    }
    assert_eq!(renders.load(SeqCst), 5);
    assert_eq!(cache.store().metrics().entries, 0);
}

/// A leader render that waits for `gate`, then either panics or is aborted by the test; the
/// callers waiting on it must render for themselves.
async fn leader_lost(abort: bool) {
    let (store, mut gets) = Counting::new();
    let cache = Arc::new(Manifests::new(store, Settings::default()));
    let gate = Gate::new();
    let (started_tx, started) = oneshot::channel();
    let leader = tokio::spawn({
        let (cache, gate) = (cache.clone(), gate.clone());
        async move {
            cache
                .get_or_render(key("a"), false, move || async move {
                    started_tx.send(()).unwrap();
                    gate.wait().await;
                    panic!("render failed hard");
                })
                .await
        }
    });
    started.await.unwrap();

    let before = *gets.borrow();
    let renders = Arc::new(AtomicUsize::new(0));
    let mut followers = JoinSet::new();
    for _ in 0..5 {
        let (cache, renders) = (cache.clone(), renders.clone());
        followers
            .spawn(async move { call(&cache, key("a"), false, &renders, Ok("retried")).await });
    }
    gets.wait_for(|n| *n >= before + 5).await.unwrap();
    if abort {
        leader.abort();
    } else {
        gate.open();
    }
    let lost = leader.await.unwrap_err();
    assert_eq!(lost.is_panic(), !abort);
    assert_eq!(lost.is_cancelled(), abort);
    while let Some(joined) = followers.join_next().await {
        assert_eq!(joined.unwrap(), Ok("retried".into()));
    }
    assert_eq!(renders.load(SeqCst), 1);
    // And later callers are served, not wedged.
    assert_eq!(
        call(&cache, key("a"), false, &renders, Ok("x")).await,
        Ok("retried".into())
    );
}

#[tokio::test]
async fn a_panicking_render_does_not_wedge_its_key() {
    leader_lost(false).await;
}

#[tokio::test]
async fn a_cancelled_render_does_not_wedge_its_key() {
    leader_lost(true).await;
}

fn sendable<T: Send>(value: T) -> T {
    value
}

#[tokio::test]
async fn works_with_a_boxed_store_and_its_future_is_send() {
    let store: Box<dyn Store> = Box::new(memory());
    let cache = Manifests::new(store, Settings::default());
    let first = sendable(cache.get_or_render(key("a"), false, || async { Ok(b"v".to_vec()) }));
    assert_eq!(first.await.unwrap().as_slice(), b"v");
    let again = cache.get_or_render(key("a"), false, || async { Err(boom("unused")) });
    assert_eq!(again.await.unwrap().as_slice(), b"v");
}

/// A render dropped by its caller leaves work behind (a child process being reaped) that holds
/// the render's slot: the next render may not start until that work lets go of it.
#[tokio::test(start_paused = true)]
async fn a_dropped_render_keeps_its_slot_until_its_work_has_stopped() {
    let settings = Settings {
        parallelism: 1,
        ..Settings::default()
    };
    let cache = Arc::new(Manifests::new(memory(), settings));
    let (held_tx, held) = oneshot::channel();
    let abandoned = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_render(key("a"), false, move || async move {
                    // What a child's reaper does: keep the slot beyond the render future.
                    held_tx.send(Slot::current()).unwrap();
                    std::future::pending::<Result<Vec<u8>, Failure>>().await
                })
                .await
        }
    });
    let leftover = held
        .await
        .unwrap()
        .expect("a render under a limit has a slot");
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());

    let renders = Arc::new(AtomicUsize::new(0));
    let next = tokio::spawn({
        let (cache, renders) = (cache.clone(), renders.clone());
        async move { call(&cache, key("b"), false, &renders, Ok("b")).await }
    });
    // The paused clock only jumps once every task is idle: the next render is blocked, not slow.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(renders.load(SeqCst), 0, "started while the slot was held");
    drop(leftover);
    assert_eq!(next.await.unwrap(), Ok("b".into()));
    assert_eq!(renders.load(SeqCst), 1);
}

#[tokio::test]
async fn no_slot_without_a_limit_or_outside_a_render() {
    assert!(Slot::current().is_none());
    let cache = Manifests::new(memory(), Settings::default());
    let seen = cache
        .get_or_render(key("a"), false, || async {
            Ok(vec![u8::from(Slot::current().is_some())])
        })
        .await
        .unwrap();
    assert_eq!(seen.as_slice(), [0]);
}

#[tokio::test]
async fn rename_moves_manifests_but_never_failures() {
    let cache = Manifests::new(memory(), Settings::default());
    let renders = AtomicUsize::new(0);
    call(&cache, key("old"), false, &renders, Ok("v1"))
        .await
        .unwrap();
    assert!(cache.rename(&key("old"), &key("new")).await);
    assert_eq!(
        call(&cache, key("new"), false, &renders, Ok("v2")).await,
        Ok("v1".into()),
        "the moved entry answers the new key"
    );
    assert_eq!(renders.load(SeqCst), 1);
    assert!(
        !cache.rename(&key("old"), &key("other")).await,
        "moved, not copied"
    );
    let _ = call(&cache, key("bad"), false, &renders, Err("boom")).await;
    assert!(!cache.rename(&key("bad"), &key("other")).await);
    assert_eq!(
        call(&cache, key("other"), false, &renders, Ok("fresh")).await,
        Ok("fresh".into())
    );
}

/// Renders outside the cache (streamed files) take a slot too: a cached render waits for it.
#[tokio::test(start_paused = true)]
async fn work_outside_the_cache_holds_a_slot() {
    let settings = Settings {
        parallelism: 1,
        ..Settings::default()
    };
    let cache = Arc::new(Manifests::new(memory(), settings));
    let renders = Arc::new(AtomicUsize::new(0));
    let (release_tx, release) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel();
    let streamed = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .with_slot(async move {
                    started_tx.send(Slot::current().is_some()).unwrap();
                    release.await.unwrap();
                })
                .await
        }
    });
    assert!(started.await.unwrap(), "the work sees its slot");
    let next = tokio::spawn({
        let (cache, renders) = (cache.clone(), renders.clone());
        async move { call(&cache, key("b"), false, &renders, Ok("b")).await }
    });
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(renders.load(SeqCst), 0, "started while the slot was held");
    release_tx.send(()).unwrap();
    streamed.await.unwrap();
    assert_eq!(next.await.unwrap(), Ok("b".into()));
}
