//! `repoctl certs`: the certificate tooling for the repo-server's mutual TLS, replacing the
//! openssl steps operators otherwise follow by hand.
//!
//! - [`init`] issues a CA, the serving certificate, client identities (shared, or one per
//!   component) and the Secret manifests, written all or nothing;
//! - [`inspect`] describes certificates and warns about what breaks the link;
//! - [`check`] verifies a mounted Secret end to end with the repo-server's own verifier.
#![forbid(unsafe_code)]

mod authority;
mod chain;
mod check;
mod command;
mod dates;
mod error;
mod files;
mod finding;
mod init;
mod inspect;
mod key;
mod layout;
mod names;
mod random;
mod revoke;
mod secret;
mod summary;
mod warning;

pub use check::{check, Check};
pub use command::{run, run_to, Command};
pub use error::Error;
pub use finding::{Finding, Level};
pub use init::{init, next_steps, Init};
pub use inspect::{inspect, Inspect};
pub use key::KeyType;
pub use layout::{
    server_names, Component, CA_CN, CLIENT_CN, COMPONENTS, MTLS_SECRET, SERVER_CN, TLS_SECRET,
};
pub use revoke::{revoke, Revoke};
pub use summary::{San, Summary};
pub use warning::{Role, Warning, SOON};
