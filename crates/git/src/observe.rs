//! A hook the server uses to count and time the requests that reach remote repositories
//! (upstream's `argocd_git_request_total` and `argocd_git_request_duration_seconds`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One request to a remote.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The repository URL, without credentials.
    pub url: &'a str,
    /// `ls-remote` or `fetch`, upstream's `request_type` values.
    pub kind: &'static str,
    pub duration: Duration,
    pub ok: bool,
}

/// Called after every request to a remote.
#[derive(Clone)]
pub struct Observer(Arc<dyn Fn(&Request<'_>) + Send + Sync>);

impl Observer {
    pub fn new(f: impl Fn(&Request<'_>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub(crate) fn observe(&self, request: &Request<'_>) {
        (self.0)(request)
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}
