//! W3C trace context (`traceparent`, `tracestate`) read from a call's metadata, so a call from
//! a traced Argo CD component continues the caller's trace (upstream's `otelgrpc` does the
//! same). Read only while OpenTelemetry export runs.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ON: AtomicBool = AtomicBool::new(false);

/// Called once the exporter runs.
pub(super) fn enable() {
    ON.store(true, Ordering::Relaxed);
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes `span` a child of the caller's span when the call carries one.
pub(super) fn adopt(span: &tracing::Span, headers: &http::HeaderMap) {
    if span.is_disabled() || !ON.load(Ordering::Relaxed) || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only for a span no subscriber knows; it then has no parent, as before.
    let _ = span.set_parent(parent);
}
