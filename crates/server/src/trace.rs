//! One log line, one metric sample and one span per RPC, carrying the caller's identity;
//! every status message leaves through here, capped in length (see [`message`]). The span is
//! exported when OpenTelemetry tracing is on ([`otlp`]).

mod message;
pub(crate) mod otlp;
mod propagate;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};
use tracing::Instrument;

use crate::conn::Peer;
use crate::metrics::{CallLabels, Metrics, RequestLabels, TimeLabels};
use message::Capped;

const HEALTH_PATH: &str = "/grpc.health.v1.Health/Check";

/// What a repository RPC was about, filled in by its handler so the call's single log line
/// carries it (the audit line: identity, method, repository, chart, revision, code, duration).
#[derive(Clone, Default)]
pub(crate) struct Audit(Arc<parking_lot::Mutex<Subject>>);

/// The repository (without credentials), the Helm chart when there is one, and the revision.
#[derive(Default)]
struct Subject {
    repo: String,
    chart: String,
    revision: String,
}

impl Audit {
    /// Records the repository (already without credentials) and the revision.
    pub(crate) fn record(&self, repo: String, revision: &str) {
        let mut subject = self.0.lock();
        subject.repo = repo;
        subject.revision = revision.to_string();
    }

    /// Records the Helm chart a request is about.
    pub(crate) fn chart(&self, chart: &str) {
        self.0.lock().chart = chart.to_string();
    }

    fn take(&self) -> Subject {
        std::mem::take(&mut *self.0.lock())
    }
}

#[derive(Clone)]
pub(crate) struct TraceLayer(pub Arc<Metrics>);

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Trace {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Trace<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// gRPC status codes by number, as upstream's logs and metrics name them.
fn code_name(code: &str) -> &'static str {
    match code {
        "0" => "OK",
        "1" => "Canceled",
        "2" => "Unknown",
        "3" => "InvalidArgument",
        "4" => "DeadlineExceeded",
        "5" => "NotFound",
        "6" => "AlreadyExists",
        "7" => "PermissionDenied",
        "8" => "ResourceExhausted",
        "9" => "FailedPrecondition",
        "10" => "Aborted",
        "11" => "OutOfRange",
        "12" => "Unimplemented",
        "13" => "Internal",
        "14" => "Unavailable",
        "15" => "DataLoss",
        "16" => "Unauthenticated",
        _ => "Unknown",
    }
}

impl<S, B, R> Service<http::Request<B>> for Trace<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Capped<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let path = req.uri().path().to_string();
        let audit = Audit::default();
        req.extensions_mut().insert(audit.clone());
        let peer = req.extensions().get::<Arc<Peer>>().cloned();
        let metrics = self.metrics.clone();
        // The clone that was driven to readiness serves this call (tower's rule).
        let mut inner = self.inner.clone();
        std::mem::swap(&mut self.inner, &mut inner);
        let span = rpc_span(&path, peer.as_deref());
        propagate::adopt(&span, req.headers());
        let call = span.in_scope(|| inner.call(req)).instrument(span.clone());
        Box::pin(async move {
            let started = Instant::now();
            let result = call.await.map(|mut resp| {
                message::cap(resp.headers_mut());
                resp.map(Capped)
            });
            // A trailers-only response (every error tonic returns from a unary handler)
            // carries grpc-status in the headers; otherwise the call succeeded.
            let code = match &result {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .map_or("OK", code_name),
                Err(_) => "Unknown",
            };
            span.record("rpc.grpc.status_code", code);
            if code != "OK" {
                span.record("otel.status_code", "error");
            }
            let (service, method) = path
                .trim_start_matches('/')
                .split_once('/')
                .unwrap_or(("", &path));
            let grpc_type = if method == "GenerateManifestWithFiles" {
                "client_stream"
            } else {
                "unary"
            };
            metrics
                .calls
                .get_or_create(&CallLabels {
                    grpc_service: service.to_string(),
                    grpc_method: method.to_string(),
                    grpc_type,
                    grpc_code: code.to_string(),
                })
                .inc();
            let who = peer
                .as_ref()
                .and_then(|p| p.identity.as_ref())
                .map_or("", |id| id.name())
                .to_string();
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    identity: who,
                    grpc_method: method.to_string(),
                    grpc_code: code.to_string(),
                })
                .inc();
            let elapsed = started.elapsed().as_secs_f64();
            metrics
                .handling
                .get_or_create(&TimeLabels {
                    grpc_service: service.to_string(),
                    grpc_method: method.to_string(),
                    grpc_type,
                })
                .observe(elapsed);
            let millis = elapsed * 1000.0;
            // Formatted by the log line itself, so a line that is filtered out costs nothing.
            let addr = Shown(peer.as_deref(), |p, f| std::fmt::Display::fmt(&p.addr, f));
            let identity = Shown(peer.as_deref(), |p, f| {
                std::fmt::Display::fmt(&p.identity_text(), f)
            });
            if path == HEALTH_PATH {
                tracing::debug!(grpc.method = method, grpc.service = service, grpc.code = code, grpc.time_ms = millis, peer.address = %addr, peer.identity = %identity, "finished unary call with code {code}");
            } else {
                let Subject {
                    repo,
                    chart,
                    revision,
                } = audit.take();
                tracing::info!(grpc.method = method, grpc.service = service, grpc.code = code, grpc.time_ms = millis, peer.address = %addr, peer.identity = %identity, repo = %repo, chart = %chart, revision = %revision, "finished call with code {code}");
            }
            result
        })
    }
}

/// The span of one call, named as upstream's `otelgrpc` names it (`package.Service/Method`);
/// debug level, so it exists only while tracing is exported (or debug logging is on).
fn rpc_span(path: &str, peer: Option<&Peer>) -> tracing::Span {
    let name = path.trim_start_matches('/');
    let (service, method) = name.split_once('/').unwrap_or(("", name));
    let identity = peer
        .and_then(|p| p.identity.as_ref())
        .map_or("", |id| id.name());
    tracing::debug_span!(
        "rpc",
        otel.name = name,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        peer.identity = identity,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// A peer's field for a log line, or `-` without a peer.
struct Shown<'a>(
    Option<&'a Peer>,
    fn(&Peer, &mut std::fmt::Formatter<'_>) -> std::fmt::Result,
);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(peer) => (self.1)(peer, f),
            None => f.write_str("-"),
        }
    }
}
