//! gRPC services: wire <-> domain mapping only; the engine does the work.

pub(crate) mod repository;
mod request;
mod stream;
pub(crate) mod version;
