use crate::{Entry, Key};
use std::{future::Future, pin::Pin};

/// A store operation in progress; boxed so `Store` stays object-safe.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where cache entries live. Errors are the backend's to log: a store that cannot answer
/// behaves as a miss, since the cache is disposable.
pub trait Store: Send + Sync {
    fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>>;
    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()>;
    fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()>;
}

/// Lets the backend be chosen at run time: `Manifests<Box<dyn Store>>`.
impl<S: Store + ?Sized> Store for Box<S> {
    fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>> {
        (**self).get(key)
    }

    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()> {
        (**self).put(key, entry)
    }

    fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()> {
        (**self).remove(key)
    }
}
