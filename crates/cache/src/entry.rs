use crate::Failure;
use std::{sync::Arc, time::SystemTime};

/// What a [`Store`](crate::Store) holds under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A rendered value, opaque to the cache.
    Manifests(Arc<Vec<u8>>),
    /// The key's run of consecutive failed renders.
    Failed(Failures),
}

/// A run of consecutive failed renders of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failures {
    /// The most recent failure.
    pub last: Failure,
    /// Consecutive failures so far.
    pub count: u32,
    /// When the first of them happened; the time pause is measured from it.
    pub since: SystemTime,
    /// Cached failures answered while paused.
    pub served: u32,
}

impl Entry {
    /// Bytes held on the heap, for the memory budget.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Self::Manifests(value) => value.len(),
            Self::Failed(failures) => failures.last.message.len(),
        }
    }
}
