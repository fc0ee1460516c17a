//! A small in-memory cache whose entries expire: tags, tag resolutions and manifests, briefly,
//! so a burst of requests for one application asks the registry once.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(super) struct Ttl<K, V> {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Ttl<K, V> {
    pub(super) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn get(&self, key: &K) -> Option<V> {
        let mut map = self.map.lock();
        match map.get(key) {
            Some((at, value)) if at.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock();
        if map.len() >= self.max {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
            // Still full of live entries: start over rather than grow.
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_stays_bounded() {
        let cache = Ttl::new(Duration::from_secs(3600), 2);
        cache.put(1, "a");
        cache.put(2, "b");
        assert_eq!(cache.get(&1), Some("a"));
        cache.put(3, "c");
        assert!(cache.map.lock().len() <= 2);
        assert_eq!(cache.get(&3), Some("c"));

        let off = Ttl::new(Duration::ZERO, 2);
        off.put(1, "a");
        assert_eq!(off.get(&1), None);
    }
}
