//! gRPC services: wire <-> domain mapping only; the engine does the work.

pub mod repository;
mod request;
mod stream;
pub mod version;
