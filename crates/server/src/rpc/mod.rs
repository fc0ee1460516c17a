//! gRPC services: wire <-> domain mapping only; the engine does the work.

mod helm_repos;
pub(crate) mod repository;
mod request;
mod stream;
pub(crate) mod version;
