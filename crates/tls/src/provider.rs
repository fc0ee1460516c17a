//! The one crypto provider of the process: aws-lc-rs.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

/// The process-wide provider. Every config in this workspace is built from it explicitly, so a
/// second provider in the dependency graph can never be picked by accident.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// Installs [`provider`] as rustls' process default (for libraries that build configs
/// themselves). Safe to call more than once.
pub fn install() {
    let _ = CryptoProvider::install_default((*provider()).clone());
}
