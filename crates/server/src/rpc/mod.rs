//! gRPC services.

pub mod repository;
pub mod version;
