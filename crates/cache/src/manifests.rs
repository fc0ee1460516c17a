use crate::{
    flight::{follow, Done, Flights, Outcome, Role},
    pause::{pause, Pause},
    Clock, Entry, Failure, Failures, Key, Settings, Slot, Store, System,
};
use std::{future::Future, sync::Arc};
use tokio::sync::Semaphore;

/// The manifest cache in front of a [`Store`]: one render per key at a time, at most
/// [`Settings::parallelism`] renders overall, and upstream's failure pausing.
pub struct Manifests<S> {
    store: S,
    settings: Settings,
    clock: Box<dyn Clock>,
    limit: Option<Arc<Semaphore>>,
    flights: Flights,
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
        }
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
        let Some(Entry::Manifests(value)) = self.store.get(from).await else {
            return false;
        };
        self.store.put(to, Entry::Manifests(value)).await;
        self.store.remove(from).await;
        true
    }

    /// Answers `key` from the store unless `hard_refresh` (upstream's `noCache`); otherwise
    /// renders it once for all concurrent callers of the key, within the parallelism limit,
    /// and records the outcome. While the key is paused after failures, answers the recorded
    /// failure without rendering.
    ///
    /// A hard refresh may share a render already in flight, never a stored answer. If the
    /// caller leading a render panics or is dropped, the callers waiting on it try again; its
    /// slot frees once the clones the render handed out ([`Slot::current`]) are dropped.
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
                    return outcome;
                }
            }
            match self.flights.join(key) {
                Role::Lead(lead) => break lead,
                Role::Follow(slot) => {
                    if let Some(outcome) = follow(slot, hard_refresh).await {
                        return outcome;
                    }
                }
            }
        };

        // The render sees the slot as `Slot::current`, so work it leaves behind can keep it.
        let slot = self.slot().await;
        if !hard_refresh {
            // Another caller's render, or another replica sharing the store, may have
            // answered while this one waited.
            if let Some(outcome) = self.lookup(&key).await {
                return lead.finish(Done {
                    outcome,
                    rendered: false,
                });
            }
        }

        let outcome = Slot::scope(slot, render()).await.map(Arc::new);
        match &outcome {
            Ok(value) => self.store.put(&key, Entry::Manifests(value.clone())).await,
            Err(failure) => self.record(&key, failure).await,
        }
        lead.finish(Done {
            outcome,
            rendered: true,
        })
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
