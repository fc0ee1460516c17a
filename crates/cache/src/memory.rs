use crate::{lru::Lru, Entry, Key, Pending, Store};
use parking_lot::Mutex;
use std::{
    future,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

/// An in-process [`Store`]: least recently used entries go first once the byte budget is
/// spent. An entry costs its bytes plus a fixed per-entry overhead; one larger than the whole
/// budget is not kept.
pub struct Memory {
    lru: Mutex<Lru>,
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
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
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
        let entry = self.lru.lock().get(key);
        let counter = if entry.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Relaxed);
        Box::pin(future::ready(entry))
    }

    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()> {
        let evicted = self.lru.lock().put(*key, entry);
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
}
