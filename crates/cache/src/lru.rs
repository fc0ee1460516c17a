use crate::{Entry, Key};
use std::{collections::HashMap, mem::size_of, time::Duration, time::SystemTime};

/// Bookkeeping charged to every entry on top of its bytes: its node and its index slot (the
/// key is in both), so a budget of many tiny entries is still honest.
pub(crate) const OVERHEAD: usize = size_of::<Node>() + size_of::<(Key, usize)>();

/// Entries in recency order, bounded by a byte budget. The list is linked through indices
/// into a dense `Vec`, which keeps every operation O(1) without unsafe code.
pub(crate) struct Lru {
    budget: usize,
    bytes: usize,
    index: HashMap<Key, usize>,
    nodes: Vec<Node>,
    /// Most recently used.
    head: Option<usize>,
    /// Least recently used: evicted first.
    tail: Option<usize>,
}

struct Node {
    key: Key,
    entry: Entry,
    /// When it was stored, for the time-to-live.
    stored: SystemTime,
    size: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Lru {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            bytes: 0,
            index: HashMap::new(),
            nodes: Vec::new(),
            head: None,
            tail: None,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The entry of `key` unless it was stored longer than `ttl` before `now` (then it is
    /// dropped).
    pub(crate) fn get(
        &mut self,
        key: &Key,
        now: SystemTime,
        ttl: Option<Duration>,
    ) -> Option<Entry> {
        let i = *self.index.get(key)?;
        let age = now.duration_since(self.nodes[i].stored).unwrap_or_default();
        if ttl.is_some_and(|ttl| age >= ttl) {
            self.delete(i);
            return None;
        }
        self.unlink(i);
        self.push_front(i);
        Some(self.nodes[i].entry.clone())
    }

    /// Stores `entry`, evicting the least recently used; returns how many were evicted.
    pub(crate) fn put(&mut self, key: Key, entry: Entry, now: SystemTime) -> u64 {
        // The old value is stale either way, even if the new one cannot be kept.
        self.remove(&key);
        let size = entry.bytes() + OVERHEAD;
        if size > self.budget {
            return 0;
        }
        let mut evicted = 0;
        while self.bytes + size > self.budget {
            let Some(last) = self.tail else { break };
            self.delete(last);
            evicted += 1;
        }
        let i = self.nodes.len();
        self.nodes.push(Node {
            key: key.clone(),
            entry,
            stored: now,
            size,
            prev: None,
            next: None,
        });
        self.index.insert(key, i);
        self.push_front(i);
        self.bytes += size;
        evicted
    }

    pub(crate) fn remove(&mut self, key: &Key) {
        if let Some(&i) = self.index.get(key) {
            self.delete(i);
        }
    }

    fn delete(&mut self, i: usize) {
        self.unlink(i);
        let node = self.nodes.swap_remove(i);
        self.index.remove(&node.key);
        self.bytes -= node.size;
        if i < self.nodes.len() {
            self.moved(i);
        }
    }

    /// Repoints the neighbours and the index at a node `swap_remove` moved to `i`.
    fn moved(&mut self, i: usize) {
        let (key, prev, next) = {
            let node = &self.nodes[i];
            (node.key.clone(), node.prev, node.next)
        };
        match prev {
            Some(p) => self.nodes[p].next = Some(i),
            None => self.head = Some(i),
        }
        match next {
            Some(n) => self.nodes[n].prev = Some(i),
            None => self.tail = Some(i),
        }
        self.index.insert(key, i);
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev.take(), self.nodes[i].next.take());
        match prev {
            Some(p) => self.nodes[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.nodes[n].prev = prev,
            None => self.tail = prev,
        }
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].next = self.head;
        match self.head {
            Some(h) => self.nodes[h].prev = Some(i),
            None => self.tail = Some(i),
        }
        self.head = Some(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyBuilder;
    use std::sync::Arc;

    fn key(n: u64) -> Key {
        KeyBuilder::new().part("n", &n.to_le_bytes()).build()
    }

    fn value(len: usize) -> Entry {
        Entry::Manifests(Arc::new(vec![0; len]))
    }

    /// Walks the list both ways and checks it against the index and the byte count.
    fn check(lru: &Lru) {
        let mut forward = Vec::new();
        let mut at = lru.head;
        while let Some(i) = at {
            forward.push(i);
            at = lru.nodes[i].next;
        }
        let mut backward = Vec::new();
        let mut at = lru.tail;
        while let Some(i) = at {
            backward.push(i);
            at = lru.nodes[i].prev;
        }
        backward.reverse();
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), lru.nodes.len());
        assert_eq!(lru.index.len(), lru.nodes.len());
        for (key, &i) in &lru.index {
            assert_eq!(lru.nodes[i].key, *key);
        }
        assert_eq!(lru.bytes, lru.nodes.iter().map(|n| n.size).sum::<usize>());
        assert!(lru.bytes <= lru.budget);
    }

    #[test]
    fn evicts_least_recently_used_by_bytes() {
        let size = 100 + OVERHEAD;
        let mut lru = Lru::new(3 * size);
        for n in 0..3 {
            assert_eq!(lru.put(key(n), value(100), SystemTime::UNIX_EPOCH), 0);
        }
        assert!(lru.get(&key(0), SystemTime::UNIX_EPOCH, None).is_some());
        assert_eq!(lru.put(key(3), value(100), SystemTime::UNIX_EPOCH), 1);
        assert!(lru.get(&key(1), SystemTime::UNIX_EPOCH, None).is_none());
        for n in [0, 2, 3] {
            assert!(
                lru.get(&key(n), SystemTime::UNIX_EPOCH, None).is_some(),
                "{n} evicted"
            );
        }
        assert_eq!(lru.bytes(), 3 * size);
        // One large value displaces two.
        assert_eq!(
            lru.put(key(4), value(200 + OVERHEAD), SystemTime::UNIX_EPOCH),
            2
        );
        assert_eq!(lru.len(), 2);
        check(&lru);
    }

    #[test]
    fn replacing_recounts_bytes() {
        let mut lru = Lru::new(10_000);
        lru.put(key(0), value(100), SystemTime::UNIX_EPOCH);
        lru.put(key(0), value(10), SystemTime::UNIX_EPOCH);
        assert_eq!(lru.bytes(), 10 + OVERHEAD);
        assert_eq!(lru.len(), 1);
        check(&lru);
    }

    #[test]
    fn oversized_is_not_kept_and_drops_the_stale_value() {
        let mut lru = Lru::new(1_000);
        lru.put(key(0), value(10), SystemTime::UNIX_EPOCH);
        lru.put(key(1), value(10), SystemTime::UNIX_EPOCH);
        assert_eq!(lru.put(key(0), value(1_000), SystemTime::UNIX_EPOCH), 0);
        assert!(lru.get(&key(0), SystemTime::UNIX_EPOCH, None).is_none());
        assert!(lru.get(&key(1), SystemTime::UNIX_EPOCH, None).is_some());
        check(&lru);
    }

    #[test]
    fn stays_consistent_and_within_budget() {
        let mut lru = Lru::new(4_000);
        // A fixed LCG: reproducible without a dependency.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            seed >> 33
        };
        for _ in 0..5_000 {
            let k = key(next() % 40);
            match next() % 4 {
                0 => lru.remove(&k),
                1 => {
                    lru.get(&k, SystemTime::UNIX_EPOCH, None);
                }
                _ => {
                    lru.put(k, value((next() % 1_500) as usize), SystemTime::UNIX_EPOCH);
                }
            }
            check(&lru);
        }
    }
}
