//! The metrics port: `/healthz` (readiness), `/healthz?full=true` (liveness, a real gRPC
//! round trip through our own TLS) and `/metrics`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;
use crate::probe::Probe;

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    probe: Probe,
}

pub(crate) fn router(metrics: Arc<Metrics>, probe: Probe) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(Shared { metrics, probe })
}

async fn healthz(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    if query.get("full").map(String::as_str) != Some("true") {
        return (StatusCode::OK, "ok".to_string());
    }
    match shared.probe.check().await {
        Ok(()) => (StatusCode::OK, "ok".to_string()),
        Err(err) => {
            tracing::error!(component = "healthcheck", error = %err, "Error serving health check request");
            (StatusCode::SERVICE_UNAVAILABLE, err)
        }
    }
}

async fn metrics_text(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
}
