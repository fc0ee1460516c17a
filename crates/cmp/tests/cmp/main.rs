//! repo-cmp against a minimal sidecar over real unix sockets: the sender's archive, the
//! receiver's refusals, and plugin discovery and calls.

mod client;
mod props;
mod refused;
mod stream;
mod support;
