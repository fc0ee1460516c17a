use crate::{Entry, Key, Pending, Store};

/// Two stores as one: a fast private `front` (the in-process [`Memory`](crate::Memory)) before
/// a `shared` one (Redis) that other replicas read too.
///
/// A shared hit fills the front; puts, removals and moves go to both. The shared tier's
/// failures stay its own: it answers them as misses, so the front and the renderer carry on.
pub struct Tiered<F, S> {
    front: F,
    shared: S,
}

impl<F: Store, S: Store> Tiered<F, S> {
    pub fn new(front: F, shared: S) -> Self {
        Self { front, shared }
    }

    pub fn front(&self) -> &F {
        &self.front
    }

    pub fn shared(&self) -> &S {
        &self.shared
    }
}

impl<F: Store, S: Store> Store for Tiered<F, S> {
    fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>> {
        Box::pin(async move {
            if let Some(entry) = self.front.get(key).await {
                return Some(entry);
            }
            let entry = self.shared.get(key).await?;
            self.front.put(key, entry.clone()).await;
            Some(entry)
        })
    }

    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()> {
        Box::pin(async move {
            self.front.put(key, entry.clone()).await;
            self.shared.put(key, entry).await;
        })
    }

    fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()> {
        Box::pin(async move {
            self.front.remove(key).await;
            self.shared.remove(key).await;
        })
    }

    fn rename<'a>(&'a self, from: &'a Key, to: &'a Key) -> Pending<'a, bool> {
        Box::pin(async move {
            let front = self.front.rename(from, to).await;
            if !front {
                // What the front held under `to` may differ from what the shared move brings.
                self.front.remove(to).await;
            }
            let shared = self.shared.rename(from, to).await;
            front || shared
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyBuilder, Memory};
    use std::sync::Arc;

    fn key(n: u8) -> Key {
        KeyBuilder::new().part("n", &[n]).build()
    }

    fn value(text: &str) -> Entry {
        Entry::Manifests(Arc::new(text.as_bytes().to_vec()))
    }

    fn tiers() -> Tiered<Memory, Memory> {
        Tiered::new(Memory::new(1 << 20), Memory::new(1 << 20))
    }

    #[tokio::test]
    async fn a_shared_hit_fills_the_front() {
        let store = tiers();
        store.shared().put(&key(0), value("v")).await;
        assert_eq!(store.front().get(&key(0)).await, None);
        assert_eq!(store.get(&key(0)).await, Some(value("v")));
        assert_eq!(store.front().get(&key(0)).await, Some(value("v")));
        // The next read stays in front.
        let shared_gets = store.shared().metrics().hits + store.shared().metrics().misses;
        assert_eq!(store.get(&key(0)).await, Some(value("v")));
        let after = store.shared().metrics().hits + store.shared().metrics().misses;
        assert_eq!(after, shared_gets);
    }

    #[tokio::test]
    async fn puts_and_removals_reach_both_tiers() {
        let store = tiers();
        store.put(&key(0), value("v")).await;
        assert_eq!(store.front().get(&key(0)).await, Some(value("v")));
        assert_eq!(store.shared().get(&key(0)).await, Some(value("v")));
        store.remove(&key(0)).await;
        assert_eq!(store.front().get(&key(0)).await, None);
        assert_eq!(store.shared().get(&key(0)).await, None);
    }

    #[tokio::test]
    async fn rename_moves_in_both_tiers() {
        let store = tiers();
        store.put(&key(0), value("v")).await;
        assert!(store.rename(&key(0), &key(1)).await);
        for tier in [store.front(), store.shared()] {
            assert_eq!(tier.get(&key(0)).await, None);
            assert_eq!(tier.get(&key(1)).await, Some(value("v")));
        }
        assert!(!store.rename(&key(0), &key(2)).await);
    }

    #[tokio::test]
    async fn a_shared_move_replaces_what_the_front_held() {
        let store = tiers();
        store.shared().put(&key(0), value("moved")).await;
        store.front().put(&key(1), value("stale")).await;
        assert!(store.rename(&key(0), &key(1)).await);
        assert_eq!(store.get(&key(1)).await, Some(value("moved")));
    }
}
