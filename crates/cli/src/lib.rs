//! Shared pieces of the two binaries.
#![forbid(unsafe_code)]

pub mod call;
pub mod logging;
pub mod policy;
pub mod reference;
