//! Single-flight: concurrent callers with the same key share one execution and its result.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::Error;

pub(crate) struct Flights<K, V> {
    calls: Mutex<HashMap<K, Arc<Landing<V>>>>,
}

/// Where a flight's result arrives.
type Landing<V> = OnceCell<Result<V, Error>>;

impl<K: Eq + Hash + Clone, V: Clone> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `work` unless a call for `key` is in flight, in which case its result is awaited
    /// instead. If the running caller is cancelled, a waiting one takes over.
    pub(crate) async fn run<F>(&self, key: K, work: F) -> Result<V, Error>
    where
        F: Future<Output = Result<V, Error>>,
    {
        let cell = self.calls.lock().entry(key.clone()).or_default().clone();
        let result = cell.get_or_init(|| work).await.clone();
        // Later callers start afresh (and consult the caches the work filled).
        let mut calls = self.calls.lock();
        if calls.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            calls.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flights = Flights::<&str, usize>::new();
        let runs = AtomicUsize::new(0);
        let work = || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(runs.fetch_add(1, Ordering::SeqCst))
        };
        let (a, b, c) = tokio::join!(
            flights.run("k", work()),
            flights.run("k", work()),
            flights.run("k", work())
        );
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (0, 0, 0));
        assert_eq!(
            flights.run("k", work()).await.unwrap(),
            1,
            "a new flight after landing"
        );
    }
}
