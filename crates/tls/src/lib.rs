//! Certificate material and TLS configuration for the link between Argo CD components and the
//! repo-server: serving identity, client-CA bundle, the client-certificate verifier (which also
//! accepts the X.509 v1 leaves that OpenSSL 3.0 produces for the documented openssl recipe),
//! the per-connection acceptor, the client connector and the ephemeral health-probe identity.
#![forbid(unsafe_code)]

mod bundle;
mod connector;
mod constraints;
mod der;
mod error;
mod health;
mod identity_file;
mod material;
mod path;
mod pem;
#[cfg(test)]
mod props;
mod provider;
mod reason;
mod revocation;
mod serving;
mod sessions;
mod signature;
mod suites;
mod verified;
mod verify;
mod watch;

pub mod acceptor;

pub use bundle::Bundle;
pub use connector::{Connector, Roots, ServerTrust};
pub use error::Error;
pub use health::HealthIdentity;
pub use identity_file::{FileIdentity, StaticIdentity};
pub use material::{Contents, Files, Part};
pub use pem::{read_chain, read_key};
pub use provider::{install as install_provider, provider};
pub use reason::Reason;
pub use revocation::Crls;
pub use serving::ServingCert;
pub use signature::issued_by;
pub use suites::{list as list_ciphers, Policy, Version, DEFAULT_CIPHERS, SUPPORTED_SUITES};
pub use verify::ClientVerifier;
pub use watch::Changes;

pub use rustls;
pub use tokio_rustls;
