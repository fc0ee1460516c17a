use crate::{
    flight::{follow, Done, Flights, Outcome, Role},
    locks::{Claim, Locking},
    pause::{pause, Pause},
    Clock, Entry, Failure, Failures, Key, LockStats, Locks, Settings, Slot, Store, System,
};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::sync::Semaphore;

/// The manifest cache in front of a [`Store`]: one render per key at a time, at most
/// [`Settings::parallelism`] renders overall, and upstream's failure pausing. With
/// [`Locks`] shared by replicas, one render per key across them.
pub struct Manifests<S> {
    store: S,
    settings: Settings,
    clock: Box<dyn Clock>,
    limit: Option<Arc<Semaphore>>,
    flights: Flights,
    locking: Option<Locking>,
}

impl<S: Store> Manifests<S> {
    pub fn new(store: S, settings: Settings) -> Self {
        let limit = (settings.parallelism > 0).then(|| {
            Arc::new(Semaphore::new(
                settings.parallelism.min(Semaphore::MAX_PERMITS),
            ))
        });
        Self {
            store,
            settings,
            clock: Box::new(System),
            limit,
            flights: Flights::default(),
            locking: None,
        }
    }

    /// Renders a key once across the replicas sharing `locks` and the store: the others wait
    /// up to `timeout` for its answer, then render anyway. A zero `timeout` disables locking
    /// (upstream's `--revision-cache-lock-timeout`, 10 s by default).
    pub fn with_locks(mut self, locks: Arc<dyn Locks>, timeout: Duration) -> Self {
        self.locking = (!timeout.is_zero()).then(|| Locking::new(locks, timeout));
        self
    }

    /// Waits for other replicas' locks so far; zeros without locks.
    pub fn lock_stats(&self) -> LockStats {
        self.locking
            .as_ref()
            .map(Locking::stats)
            .unwrap_or_default()
    }

    /// Runs `work` that renders outside the cache (streamed files) in one of the
    /// `--parallelismlimit` slots, seen as [`Slot::current`].
    pub async fn with_slot<F: Future>(&self, work: F) -> F::Output {
        Slot::scope(self.slot().await, work).await
    }

    /// A free slot, waiting for one; `None` without a limit. Acquiring fails only on a closed
    /// semaphore, and this one is never closed.
    async fn slot(&self) -> Option<Slot> {
        match &self.limit {
            Some(limit) => limit.clone().acquire_owned().await.ok().map(Slot::new),
            None => None,
        }
    }

    /// Replaces the system clock, which failure pausing reads.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Moves the manifests stored under `from` to `to` (upstream's `SetNewRevisionManifests`
    /// after a commit that touched none of an app's paths). False when `from` holds no
    /// manifests; a recorded failure is never moved.
    pub async fn rename(&self, from: &Key, to: &Key) -> bool {
        let Some(Entry::Manifests(_)) = self.store.get(from).await else {
            return false;
        };
        self.store.rename(from, to).await
    }

    /// Answers `key` from the store unless `hard_refresh` (upstream's `noCache`); otherwise
    /// renders it once for all concurrent callers of the key, within the parallelism limit,
    /// and records the outcome. While the key is paused after failures, answers the recorded
    /// failure without rendering.
    ///
    /// A hard refresh may share a render already in flight, never a stored answer, and never
    /// waits for another replica's lock. If the caller leading a render panics or is dropped,
    /// the callers waiting on it try again; its slot frees once the clones the render handed
    /// out ([`Slot::current`]) are dropped, and its replica lock is released.
    pub async fn get_or_render<F, Fut>(
        &self,
        key: Key,
        hard_refresh: bool,
        render: F,
    ) -> Result<Arc<Vec<u8>>, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, Failure>>,
    {
        let lead = loop {
            if !hard_refresh {
                if let Some(outcome) = self.lookup(&key).await {
                    answered("hit");
                    return outcome;
                }
            }
            match self.flights.join(key.clone()) {
                Role::Lead(lead) => break lead,
                Role::Follow(slot) => {
                    if let Some(outcome) = follow(slot, hard_refresh).await {
                        answered("shared");
                        return outcome;
                    }
                }
            }
        };

        // Claimed before the slot, so waiting for another replica holds no slot.
        let held = match &self.locking {
            Some(locking) if !hard_refresh => {
                match locking.claim(&key, || self.lookup(&key)).await {
                    Claim::Held(held) => Some(held),
                    Claim::Answer(outcome) => {
                        answered("shared");
                        return lead.finish(Done {
                            outcome,
                            rendered: false,
                        });
                    }
                    Claim::Free => None,
                }
            }
            _ => None,
        };
        let outcome = lead.finish(self.render(&key, hard_refresh, render).await);
        // After the outcome is stored, so a replica waiting on the lock finds it; local
        // callers have their answer already.
        if let Some(held) = held {
            held.release().await;
        }
        outcome
    }

    async fn render<F, Fut>(&self, key: &Key, hard_refresh: bool, render: F) -> Done
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, Failure>>,
    {
        // The render sees the slot as `Slot::current`, so work it leaves behind can keep it.
        let slot = self.slot().await;
        if !hard_refresh {
            // Another caller's render, or another replica sharing the store, may have
            // answered while this one waited.
            if let Some(outcome) = self.lookup(key).await {
                answered("shared");
                return Done {
                    outcome,
                    rendered: false,
                };
            }
        }

        answered("miss");
        let outcome = Slot::scope(slot, render()).await.map(Arc::new);
        match &outcome {
            Ok(value) => self.store.put(key, Entry::Manifests(value.clone())).await,
            Err(failure) => self.record(key, failure).await,
        }
        Done {
            outcome,
            rendered: true,
        }
    }

    /// The stored answer, if it should be served: manifests, or the failure of a paused key.
    async fn lookup(&self, key: &Key) -> Option<Outcome> {
        match self.store.get(key).await? {
            Entry::Manifests(value) => Some(Ok(value)),
            Entry::Failed(mut failures) => {
                match pause(&self.settings, &failures, self.clock.now()) {
                    Pause::Off => None,
                    Pause::Over => {
                        self.store.remove(key).await;
                        None
                    }
                    Pause::On => {
                        let answer = failures.last.cached();
                        failures.served = failures.served.saturating_add(1);
                        self.store.put(key, Entry::Failed(failures)).await;
                        Some(Err(answer))
                    }
                }
            }
        }
    }

    async fn record(&self, key: &Key, failure: &Failure) {
        if self.settings.pause_after_failures == 0 {
            return;
        }
        // Read again rather than reuse the lookup's copy: a render can be long, and the
        // record may have moved meanwhile (upstream does the same).
        let failures = match self.store.get(key).await {
            Some(Entry::Failed(previous)) => Failures {
                last: failure.clone(),
                count: previous.count.saturating_add(1),
                ..previous
            },
            _ => Failures {
                last: failure.clone(),
                count: 1,
                since: self.clock.now(),
                served: 0,
            },
        };
        self.store.put(key, Entry::Failed(failures)).await;
    }
}

/// Names how a call was answered on the caller's current span, when it declares
/// `cache.result` (the server's tracing span of a lookup): `hit` from the store, `shared` by a
/// render another caller or replica ran, `miss` rendered by this call.
fn answered(how: &'static str) {
    tracing::Span::current().record("cache.result", how);
}
