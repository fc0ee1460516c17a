//! OpenTelemetry export of the server's spans (`--otlp-*`), as upstream's `util/trace`: OTLP
//! over gRPC, a batch processor, a parent-based ratio sampler, W3C trace context from callers,
//! resource `service.name=argocd-repo-server` plus `--otlp-attrs`.
//!
//! The spans are ordinary `tracing` spans at debug level (one per RPC, git request, cache
//! lookup and render), bridged by `tracing-opentelemetry`. Without `--otlp-address` nothing
//! here is built, and since the log filter stops at info by default, those spans are never
//! created. Log events are not exported: only spans.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::ClientTlsConfig;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::{Layer, Registry};

use crate::config::Otlp;

/// upstream's service name.
const SERVICE: &str = "argocd-repo-server";
/// Longest wait for one export, as the OTLP exporters' default.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--otlp-address: {0}")]
    Exporter(String),
    /// Checked when the settings were read; repeated here so nothing panics.
    #[error("--otlp-headers: header {0:?} cannot be sent as gRPC metadata")]
    Header(String),
}

/// The running exporter. [`Tracing::stop`] sends what is still buffered.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Builds the exporter; call it inside a Tokio runtime (the gRPC channel runs on it). It
    /// connects lazily: a collector that is down costs dropped spans, never a failed request.
    pub fn start(settings: &Otlp) -> Result<Self, Error> {
        let mut metadata = MetadataMap::new();
        for (key, value) in &settings.headers {
            let invalid = || Error::Header(key.clone());
            let name = MetadataKey::from_bytes(key.as_bytes()).map_err(|_| invalid())?;
            let value = MetadataValue::try_from(value.expose()).map_err(|_| invalid())?;
            metadata.insert(name, value);
        }
        let address = &settings.address;
        let endpoint = match (address.contains("://"), settings.insecure) {
            (true, _) => address.clone(),
            (false, true) => format!("http://{address}"),
            (false, false) => format!("https://{address}"),
        };
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .with_metadata(metadata);
        if !settings.insecure {
            exporter = exporter.with_tls_config(ClientTlsConfig::new().with_native_roots());
        }
        let exporter = exporter
            .build()
            .map_err(|e| Error::Exporter(e.to_string()))?;
        let resource = Resource::builder()
            .with_service_name(SERVICE)
            .with_attributes(
                (settings.attrs.iter()).map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sample_ratio,
            ))))
            .with_resource(resource)
            .with_batch_exporter(exporter)
            .build();
        super::propagate::enable();
        Ok(Self { provider })
    }

    /// The layer that exports this crate's and its libraries' spans (`repo_*` targets).
    pub fn layer(&self) -> Box<dyn Layer<Registry> + Send + Sync> {
        let tracer = self.provider.tracer(SERVICE);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_level(false)
            .with_filter(filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with("repo_")
            }))
            .boxed()
    }

    /// Exports what is buffered and stops; blocks, so call it off the async threads.
    pub fn stop(self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(error = %err, "could not export the last spans: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    /// TLS to the collector (`--otlp-insecure=false`) builds on aws-lc-rs with the system's
    /// roots; a collector that never answers costs nothing but the spans.
    #[tokio::test]
    async fn tls_exporter_starts_and_stops_without_a_collector() {
        repo_tls::install_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tracing = Tracing::start(&Otlp {
            address: format!("127.0.0.1:{port}"),
            insecure: false,
            headers: vec![("authorization".into(), Secret::new("Bearer t"))],
            attrs: vec![],
            sample_ratio: 0.5,
        })
        .unwrap();
        tokio::task::spawn_blocking(move || tracing.stop())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_header_that_is_not_metadata_is_refused() {
        let err = Tracing::start(&Otlp {
            address: "127.0.0.1:1".into(),
            insecure: true,
            headers: vec![("bad header".into(), Secret::new("s3cret"))],
            attrs: vec![],
            sample_ratio: 1.0,
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("bad header") && !err.contains("s3cret"),
            "{err}"
        );
    }
}
