//! The parallelism slot a render holds. Work that outlives the render future (a child process
//! being killed and reaped after the caller gave up) keeps a clone, so the next render cannot
//! start before that work has really stopped.

use std::{future::Future, sync::Arc};
use tokio::sync::OwnedSemaphorePermit;

tokio::task_local! {
    static CURRENT: Slot;
}

/// One of the `--parallelismlimit` slots; it frees when the last clone drops.
#[derive(Clone, Debug)]
pub struct Slot {
    _permit: Arc<OwnedSemaphorePermit>,
}

impl Slot {
    pub(crate) fn new(permit: OwnedSemaphorePermit) -> Self {
        Self {
            _permit: Arc::new(permit),
        }
    }

    /// The slot of the render running in this task; `None` outside a render or without a limit.
    pub fn current() -> Option<Slot> {
        CURRENT.try_with(Slot::clone).ok()
    }

    /// Runs `work` with `slot` as [`Slot::current`].
    pub(crate) async fn scope<F: Future>(slot: Option<Slot>, work: F) -> F::Output {
        match slot {
            Some(slot) => CURRENT.scope(slot, work).await,
            None => work.await,
        }
    }
}
