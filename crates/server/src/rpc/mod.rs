//! gRPC services.

mod apps;
pub mod engine;
mod paths;
pub mod repository;
mod request;
mod status;
mod stream;
pub mod version;
