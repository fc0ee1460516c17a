use crate::{Entry, Key};
use std::{future::Future, pin::Pin, sync::Arc};

/// A store operation in progress; boxed so `Store` stays object-safe.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where cache entries live. Errors are the backend's to log: a store that cannot answer
/// behaves as a miss, since the cache is disposable.
pub trait Store: Send + Sync {
    fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>>;
    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()>;
    fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()>;

    /// Moves the entry under `from` to `to`, replacing what `to` held; false when `from`
    /// holds nothing. A backend with a move of its own (Redis `RENAME`) should use it.
    fn rename<'a>(&'a self, from: &'a Key, to: &'a Key) -> Pending<'a, bool> {
        Box::pin(async move {
            let Some(entry) = self.get(from).await else {
                return false;
            };
            self.put(to, entry).await;
            self.remove(from).await;
            true
        })
    }
}

/// Forwards every method, the provided ones included, to the store behind a pointer.
macro_rules! forward {
    () => {
        fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>> {
            (**self).get(key)
        }

        fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()> {
            (**self).put(key, entry)
        }

        fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()> {
            (**self).remove(key)
        }

        fn rename<'a>(&'a self, from: &'a Key, to: &'a Key) -> Pending<'a, bool> {
            (**self).rename(from, to)
        }
    };
}

/// Lets the backend be chosen at run time: `Manifests<Box<dyn Store>>`.
impl<S: Store + ?Sized> Store for Box<S> {
    forward!();
}

/// Lets one store serve several users (a shared tier behind more than one cache).
impl<S: Store + ?Sized> Store for Arc<S> {
    forward!();
}
