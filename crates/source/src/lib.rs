//! The domain values of a repo-server request. The gRPC edge parses each proto message into
//! these types once; the engines (git, render, cache) take only these, so each rule below has
//! exactly one home:
//!
//! | rule                                             | type         |
//! |--------------------------------------------------|--------------|
//! | a request value never passes for a tool's option | [`Arg`]      |
//! | repository URLs: transports, userinfo, cache key | [`Remote`]   |
//! | revisions: not option-like, no control chars     | [`Revision`] |
//! | paths stay inside the repository by their text   | [`RepoPath`] |
//! | credentials never shown, never copied per call   | [`Creds`]    |
//! | versions and constraints (Masterminds semantics) | [`semver`]   |
#![forbid(unsafe_code)]

mod arg;
mod creds;
mod error;
mod path;
mod proxies;
mod remote;
mod revision;
pub mod semver;
mod source;

pub use arg::Arg;
pub use creds::{Creds, Repo};
pub use error::Invalid;
pub use path::RepoPath;
pub use proxies::Proxies;
pub use remote::{display, normalize, userinfo, Remote, Transport};
pub use revision::{is_abbreviated, is_sha, Revision};
pub use source::{App, Git, Helm, Oci, Registry, Source};
