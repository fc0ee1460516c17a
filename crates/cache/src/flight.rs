use crate::{Failure, Key};
use parking_lot::Mutex;
use std::{collections::HashMap, sync::Arc};
use tokio::sync::watch;

pub(crate) type Outcome = Result<Arc<Vec<u8>>, Failure>;

/// How a flight ended.
#[derive(Clone)]
pub(crate) struct Done {
    pub(crate) outcome: Outcome,
    /// False when the leader found the answer in the store instead of rendering.
    pub(crate) rendered: bool,
}

type Slot = watch::Receiver<Option<Done>>;

/// The renders in progress, one per key, so concurrent callers of a key share one.
#[derive(Default)]
pub(crate) struct Flights(Mutex<HashMap<Key, Slot>>);

pub(crate) enum Role<'a> {
    Lead(Lead<'a>),
    Follow(Slot),
}

impl Flights {
    pub(crate) fn join(&self, key: Key) -> Role<'_> {
        let mut flights = self.0.lock();
        if let Some(slot) = flights.get(&key) {
            return Role::Follow(slot.clone());
        }
        let (tx, rx) = watch::channel(None);
        flights.insert(key.clone(), rx);
        Role::Lead(Lead {
            flights: self,
            key,
            tx,
        })
    }
}

/// Waits for the leader. `None` when the leader vanished (its render panicked or its caller
/// gave up), or when a hard refresh would get a stored answer: the caller should try again.
pub(crate) async fn follow(mut slot: Slot, hard_refresh: bool) -> Option<Outcome> {
    let done = slot.wait_for(Option::is_some).await.ok()?.clone()?;
    (done.rendered || !hard_refresh).then_some(done.outcome)
}

/// The right and duty to answer a key's flight. Dropping it unanswered (panic, cancellation)
/// closes the flight, which sends its followers back to try again.
pub(crate) struct Lead<'a> {
    flights: &'a Flights,
    key: Key,
    tx: watch::Sender<Option<Done>>,
}

impl Lead<'_> {
    pub(crate) fn finish(self, done: Done) -> Outcome {
        // Leave before answering, so a follower sent back to try again cannot rejoin this
        // finished flight.
        self.leave();
        let outcome = done.outcome.clone();
        self.tx.send_replace(Some(done));
        outcome
    }

    fn leave(&self) {
        let mut flights = self.flights.0.lock();
        // After `finish`, the key may already belong to a newer flight.
        if flights
            .get(&self.key)
            .is_some_and(|slot| slot.same_channel(&self.tx.subscribe()))
        {
            flights.remove(&self.key);
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}
