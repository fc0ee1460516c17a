//! Turns the TLS part of the configuration into an acceptor, logging what upstream logs.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use repo_tls::acceptor::{Acceptor, Configs};
use repo_tls::{Bundle, HealthIdentity, Policy, ServingCert};

use crate::config::Tls;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS side of the server.
pub struct Transport {
    pub acceptor: Arc<Acceptor>,
    /// The health probe's identity, present under mTLS.
    pub health: Option<HealthIdentity>,
}

/// Whether a file exists; other stat errors are reported.
fn exists(path: &Path) -> Result<bool, std::io::Error> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn serving(tls: &Tls) -> Result<ServingCert, repo_tls::Error> {
    let found = |path: &Path| {
        exists(path).unwrap_or_else(|err| {
            tracing::warn!("could not read TLS cert from {}: {err}", path.display());
            false
        })
    };
    match (found(&tls.cert), found(&tls.key)) {
        (true, true) => {
            tracing::info!(
                "Loading TLS configuration from cert={} and key={}",
                tls.cert.display(),
                tls.key.display()
            );
            ServingCert::load(&tls.cert, &tls.key)
        }
        (cert, key) => {
            if cert != key {
                let (present, missing) = if cert {
                    (&tls.cert, &tls.key)
                } else {
                    (&tls.key, &tls.cert)
                };
                tracing::warn!(
                    "{} exists but {} does not; both are needed to use a mounted certificate",
                    present.display(),
                    missing.display()
                );
            }
            tracing::info!("Generating self-signed TLS certificate for this session");
            ServingCert::self_signed()
        }
    }
}

fn client_ca(path: &Path) -> Result<Option<Bundle>, crate::Error> {
    match exists(path) {
        Ok(false) => {
            tracing::info!(
                "Client CA file {} not found; mTLS is disabled, serving TLS only",
                path.display()
            );
            Ok(None)
        }
        Err(source) => Err(crate::Error::StatCa {
            path: path.to_path_buf(),
            source,
        }),
        Ok(true) => {
            tracing::info!(
                "Loading CA information from {} and appending it to cert pool",
                path.display()
            );
            let bundle = Bundle::load(path)?;
            tracing::info!(
                "mTLS enabled for repo-server: requiring client certificates from CA={} ({} CA certificate(s))",
                path.display(),
                bundle.len()
            );
            Ok(Some(bundle))
        }
    }
}

pub fn build(tls: &Tls) -> Result<Transport, crate::Error> {
    let (policy, warnings) = Policy::new(
        &tls.min_version,
        &tls.max_version,
        &tls.ciphers,
        tls.ciphers_explicit,
    )?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let serving = serving(tls)?;
    let bundle = match &tls.client_ca {
        Some(path) => client_ca(path)?,
        None => {
            tracing::info!("No client CA path configured; mTLS is disabled, serving TLS only");
            None
        }
    };
    let health = match bundle {
        Some(_) => {
            let identity = HealthIdentity::generate()?;
            tracing::info!(
                "Generated ephemeral health-check client certificate (CN={})",
                identity.common_name()
            );
            Some(identity)
        }
        None => None,
    };
    let configs = Configs::build(&serving, bundle.as_ref(), health.as_ref(), &policy)?;
    Ok(Transport {
        acceptor: Arc::new(Acceptor::new(configs, HANDSHAKE_TIMEOUT)),
        health,
    })
}
