//! A streamed request's private directory: the received archive and its unpacked files.

use std::path::Path;

use tokio::runtime::{Handle, RuntimeFlavor};

/// Removed with everything in it when dropped, on every path out of the request (a refusal
/// included). Removal is blocking file work: on a multi-threaded runtime the worker hands its
/// other tasks over first, so removing a large tree never stalls them.
pub(crate) struct Work(Option<tempfile::TempDir>);

impl Work {
    pub(crate) fn new(dir: tempfile::TempDir) -> Self {
        Self(Some(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        self.0.as_ref().expect("present until dropped").path()
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let dir = self.0.take();
        let multi =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(move || drop(dir));
        }
    }
}
