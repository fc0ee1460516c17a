use crate::{lru::Lru, Clock, Entry, Key, Pending, Store, System};
use parking_lot::Mutex;
use std::{
    future,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

/// An in-process [`Store`]: least recently used entries go first once the byte budget is
/// spent. An entry costs its bytes plus a fixed per-entry overhead; one larger than the whole
/// budget is not kept.
pub struct Memory {
    lru: Mutex<Lru>,
    /// Entries older than this are gone (upstream's `--repo-cache-expiration`); none if unset.
    ttl: Option<Duration>,
    clock: Box<dyn Clock>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// A snapshot of a [`Memory`] store's counters and size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Bytes charged against the budget.
    pub bytes: usize,
    pub entries: usize,
}

impl Memory {
    pub fn new(budget: usize) -> Self {
        Self {
            lru: Mutex::new(Lru::new(budget)),
            ttl: None,
            clock: Box::new(System),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Entries expire `ttl` after they were stored.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Replaces the system clock, which the time-to-live reads.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    pub fn metrics(&self) -> Metrics {
        let lru = self.lru.lock();
        Metrics {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            bytes: lru.bytes(),
            entries: lru.len(),
        }
    }
}

impl Store for Memory {
    fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>> {
        let entry = self.lru.lock().get(key, self.clock.now(), self.ttl);
        let counter = if entry.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Relaxed);
        Box::pin(future::ready(entry))
    }

    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()> {
        let evicted = self.lru.lock().put(key.unnamed(), entry, self.clock.now());
        self.evictions.fetch_add(evicted, Relaxed);
        Box::pin(future::ready(()))
    }

    fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()> {
        self.lru.lock().remove(key);
        Box::pin(future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{lru::OVERHEAD, KeyBuilder};
    use std::sync::Arc;

    fn key(n: u8) -> Key {
        KeyBuilder::new().part("n", &[n]).build()
    }

    #[tokio::test]
    async fn counts_hits_misses_evictions_and_bytes() {
        let memory = Memory::new(2 * (10 + OVERHEAD));
        let value = Entry::Manifests(Arc::new(vec![7; 10]));
        assert_eq!(memory.get(&key(0)).await, None);
        memory.put(&key(0), value.clone()).await;
        assert_eq!(memory.get(&key(0)).await, Some(value.clone()));
        memory.put(&key(1), value.clone()).await;
        memory.put(&key(2), value.clone()).await;
        assert_eq!(memory.get(&key(0)).await, None);
        memory.remove(&key(1)).await;
        assert_eq!(
            memory.metrics(),
            Metrics {
                hits: 1,
                misses: 2,
                evictions: 1,
                bytes: 10 + OVERHEAD,
                entries: 1,
            }
        );
    }

    /// A clock the test moves by hand.
    #[derive(Clone, Default)]
    struct Manual(Arc<Mutex<Duration>>);

    impl Clock for Manual {
        fn now(&self) -> std::time::SystemTime {
            std::time::SystemTime::UNIX_EPOCH + *self.0.lock()
        }
    }

    #[tokio::test]
    async fn entries_expire_after_their_time_to_live() {
        let clock = Manual::default();
        let memory = Memory::new(1 << 20)
            .with_ttl(Duration::from_secs(60))
            .with_clock(clock.clone());
        let value = Entry::Manifests(Arc::new(vec![1; 10]));
        memory.put(&key(0), value.clone()).await;
        *clock.0.lock() = Duration::from_secs(59);
        assert_eq!(memory.get(&key(0)).await, Some(value.clone()));
        memory.put(&key(1), value.clone()).await;
        *clock.0.lock() = Duration::from_secs(60);
        assert_eq!(memory.get(&key(0)).await, None, "expired");
        assert_eq!(memory.get(&key(1)).await, Some(value), "stored later");
        assert_eq!(memory.metrics().entries, 1, "the expired entry is gone");
    }
}
