//! One render per key across replicas: the local leader of a key takes a shared lock, or
//! waits for the replica holding it to store its answer.

use crate::{flight::Outcome, Key, Pending};
use std::{
    collections::hash_map::RandomState,
    future::Future,
    hash::BuildHasher,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, OnceLock,
    },
    time::{Duration, SystemTime},
};
use tokio::time::{sleep, Instant};

/// Render locks shared by the replicas (Redis `SET NX PX`).
///
/// A backend that cannot answer, or cannot name the key (no [`Key::name`]), grants the lock:
/// the caller then renders without waiting, as it would alone.
pub trait Locks: Send + Sync {
    /// Takes the lock of `key` for `owner` unless someone holds it; it lapses after `ttl`.
    fn try_lock<'a>(&'a self, key: &'a Key, owner: &'a str, ttl: Duration) -> Pending<'a, bool>;
    /// Releases the lock of `key` if `owner` still holds it.
    fn unlock<'a>(&'a self, key: &'a Key, owner: &'a str) -> Pending<'a, ()>;
}

/// How often a render waited for another replica's lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockStats {
    /// Renders that found the key locked by another replica and waited.
    pub waited: u64,
    /// Waits answered by the other replica's stored result.
    pub answered: u64,
    /// Waits that ran out of time, after which the waiter rendered anyway.
    pub timeouts: u64,
}

/// The wait between looks at the store: doubling from the first to the last.
const FIRST_POLL: Duration = Duration::from_millis(20);
const LAST_POLL: Duration = Duration::from_millis(250);

pub(crate) struct Locking {
    locks: Arc<dyn Locks>,
    /// How long to wait for another replica, and how long a lock lives.
    timeout: Duration,
    waited: AtomicU64,
    answered: AtomicU64,
    timeouts: AtomicU64,
}

/// Where claiming a key's lock left the leader.
pub(crate) enum Claim {
    /// The lock is ours: render, store, then release it.
    Held(Held),
    /// Another replica stored the answer while we waited.
    Answer(Outcome),
    /// The wait ran out: render without the lock.
    Free,
}

impl Locking {
    pub(crate) fn new(locks: Arc<dyn Locks>, timeout: Duration) -> Self {
        Self {
            locks,
            timeout,
            waited: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> LockStats {
        LockStats {
            waited: self.waited.load(Relaxed),
            answered: self.answered.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
        }
    }

    /// Takes the lock of `key`, or polls `lookup` until another replica's answer appears,
    /// the lock is free again, or the timeout passes.
    pub(crate) async fn claim<F, Fut>(&self, key: &Key, mut lookup: F) -> Claim
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<Outcome>>,
    {
        let owner = owner();
        if self.locks.try_lock(key, &owner, self.timeout).await {
            return self.held(key, owner);
        }
        self.waited.fetch_add(1, Relaxed);
        let deadline = Instant::now() + self.timeout;
        let mut delay = FIRST_POLL;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.timeouts.fetch_add(1, Relaxed);
                return Claim::Free;
            }
            sleep(delay.min(left)).await;
            delay = (delay * 2).min(LAST_POLL);
            if let Some(outcome) = lookup().await {
                self.answered.fetch_add(1, Relaxed);
                return Claim::Answer(outcome);
            }
            if self.locks.try_lock(key, &owner, self.timeout).await {
                return self.held(key, owner);
            }
        }
    }

    fn held(&self, key: &Key, owner: String) -> Claim {
        Claim::Held(Held {
            locks: self.locks.clone(),
            key: key.clone(),
            owner,
            released: false,
        })
    }
}

/// A lock this process holds. Dropped unreleased (the render panicked or its caller gave up),
/// it is released by a spawned task, so other replicas need not wait for it to lapse.
pub(crate) struct Held {
    locks: Arc<dyn Locks>,
    key: Key,
    owner: String,
    released: bool,
}

impl Held {
    pub(crate) async fn release(mut self) {
        self.locks.unlock(&self.key, &self.owner).await;
        self.released = true;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Without a runtime (shutting down) the lock lapses after its time to live.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (locks, key, owner) = (
                self.locks.clone(),
                self.key.clone(),
                std::mem::take(&mut self.owner),
            );
            runtime.spawn(async move { locks.unlock(&key, &owner).await });
        }
    }
}

/// A lock owner unique to this process and call: pids repeat across containers, so the start
/// time and a random number from the standard library's hasher seed tell processes apart.
fn owner() -> String {
    static PROCESS: OnceLock<String> = OnceLock::new();
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| {
        let started = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let random = RandomState::new().hash_one(started);
        format!("{}-{started:x}-{random:016x}", std::process::id())
    });
    format!("{process}-{}", CALLS.fetch_add(1, Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_differ_per_call() {
        let (a, b) = (owner(), owner());
        assert_ne!(a, b);
        let prefix = |o: &str| o.rsplit_once('-').map(|(p, _)| p.to_string());
        assert_eq!(prefix(&a), prefix(&b), "one process");
    }
}
