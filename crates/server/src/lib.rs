//! The repo-server process: gRPC on `--port` (TLS, mTLS when a client CA is mounted, or h2c),
//! and `/healthz` + `/metrics` over HTTP on `--metrics-port`.
#![forbid(unsafe_code)]

mod authz;
pub mod config;
mod conn;
mod engine;
mod expiry;
mod http;
mod listener;
mod metrics;
mod probe;
mod rpc;
mod run;
mod status;
mod trace;
mod transport;

pub use config::{Config, ConfigError, Flags};
pub use conn::Peer;
pub use run::{start, Error, Running};
pub use trace::otlp::{Error as TracingError, Tracing};

/// Every metric the server exports: (name, type, help), as the exposition declares them.
pub fn metric_catalog() -> Vec<(String, String, String)> {
    let metrics = metrics::Metrics::new();
    metrics.touch_all();
    let text = metrics.render();
    let mut help = std::collections::BTreeMap::new();
    let mut kinds = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, text)) = rest.split_once(' ') {
                help.insert(name.to_string(), text.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                kinds.push((name.to_string(), kind.to_string()));
            }
        }
    }
    kinds
        .into_iter()
        .map(|(name, kind)| {
            let text = help.get(&name).cloned().unwrap_or_default();
            (name, kind, text)
        })
        .collect()
}
