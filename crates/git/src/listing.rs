//! Ref listings per normalized URL: reused for a short time, and fetched once for all
//! concurrent callers (upstream's `git-refs` cache with its lock, in process).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::flight::Flights;
use crate::{Error, Refs};

pub(crate) struct Listing {
    ttl: Duration,
    fresh: Mutex<HashMap<String, (Instant, Arc<Refs>)>>,
    flights: Flights<String, Arc<Refs>>,
}

impl Listing {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            fresh: Mutex::new(HashMap::new()),
            flights: Flights::new(),
        }
    }

    /// The cached listing for `key`, or the result of `list`, shared with concurrent callers.
    pub(crate) async fn get<F>(&self, key: &str, list: F) -> Result<Arc<Refs>, Error>
    where
        F: Future<Output = Result<Refs, Error>>,
    {
        if let Some(refs) = self.cached(key) {
            return Ok(refs);
        }
        let work = async {
            // A flight may have landed since the check above.
            if let Some(refs) = self.cached(key) {
                return Ok(refs);
            }
            let refs = Arc::new(list.await?);
            let now = Instant::now();
            let mut fresh = self.fresh.lock();
            fresh.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            fresh.insert(key.to_string(), (now, refs.clone()));
            Ok(refs)
        };
        self.flights.run(key.to_string(), work).await
    }

    /// A new listing from `list`, never a cached or in-flight one (a user refresh, a webhook,
    /// a sync: upstream's `noRevisionCache`); it replaces the cached listing for later callers.
    pub(crate) async fn refresh<F>(&self, key: &str, list: F) -> Result<Arc<Refs>, Error>
    where
        F: Future<Output = Result<Refs, Error>>,
    {
        let refs = Arc::new(list.await?);
        self.fresh
            .lock()
            .insert(key.to_string(), (Instant::now(), refs.clone()));
        Ok(refs)
    }

    pub(crate) fn cached(&self, key: &str) -> Option<Arc<Refs>> {
        let fresh = self.fresh.lock();
        let (at, refs) = fresh.get(key)?;
        (at.elapsed() < self.ttl).then(|| refs.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reuses_until_the_ttl_expires() {
        let listing = Listing::new(Duration::from_secs(60));
        let calls = AtomicUsize::new(0);
        let list = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Refs::default())
        };
        listing.get("k", list()).await.unwrap();
        listing.get("k", list()).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        listing.get("other", list()).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        tokio::time::advance(Duration::from_secs(61)).await;
        listing.get("k", list()).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
