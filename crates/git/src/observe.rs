//! A hook the server uses to count and time the requests that reach remote repositories
//! (upstream's `argocd_git_request_total`, `argocd_git_request_duration_seconds` and the
//! failure counters), and the tracing span each request runs in (exported as an OpenTelemetry
//! span when the server traces).

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

/// The span of one request to `url` (without credentials): `git fetch` or `git ls-remote`,
/// its outcome recorded by [`finished`]. Debug level: with tracing off it is never built.
pub(crate) fn span(kind: &'static str, url: &str) -> tracing::Span {
    tracing::debug_span!(
        "git",
        otel.name = %format_args!("git {kind}"),
        git.request = kind,
        git.repo = url,
        otel.status_code = tracing::field::Empty,
    )
}

/// Records a request's outcome on its [`span`].
pub(crate) fn finished(span: &tracing::Span, ok: bool) {
    span.record("otel.status_code", if ok { "ok" } else { "error" });
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}
