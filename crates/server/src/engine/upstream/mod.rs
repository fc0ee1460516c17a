//! Upstream Argo CD's names and values for manifest entries in a shared store, so that its API
//! server (which renames `mfst|…` entries to a new commit on a webhook) and its repo-servers
//! work with this server's entries in the same Redis.

mod json;
mod name;
mod source;
mod store;
mod value;

pub(crate) use name::{manifest_name, Request};
pub(crate) use source::plugin_parameters;
pub(crate) use store::Shared;

#[cfg(test)]
mod tests;
