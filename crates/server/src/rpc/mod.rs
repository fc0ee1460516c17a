//! gRPC services.

mod apps;
mod charts;
pub mod engine;
mod paths;
pub mod repository;
mod request;
mod status;
mod stream;
pub mod version;
