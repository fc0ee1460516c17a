//! The repo-server process: gRPC on `--port` (TLS, mTLS when a client CA is mounted, or h2c),
//! and `/healthz` + `/metrics` over HTTP on `--metrics-port`.
#![forbid(unsafe_code)]

mod authz;
pub mod config;
mod conn;
mod expiry;
mod http;
mod listener;
mod metrics;
mod probe;
mod rpc;
mod run;
mod trace;
mod transport;

pub use config::{Config, ConfigError, Flags};
pub use conn::Peer;
pub use run::{start, Error, Running};
