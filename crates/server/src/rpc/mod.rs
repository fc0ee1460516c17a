//! gRPC services.

mod apps;
pub mod engine;
mod paths;
pub mod repository;
mod request;
mod status;
pub mod version;
