//! The rustls client configuration for Redis, as upstream builds its tls.Config: the client
//! pair when given (required to load at start), then no verification, the CA file, or the
//! system's CAs, in that order of precedence.

use std::sync::Arc;

use repo_tls::rustls::client::ResolvesClientCert;
use repo_tls::rustls::{ClientConfig, RootCertStore};
use repo_tls::{Connector, FileIdentity, ServerTrust};

use crate::{Error, Tls};

fn config_err(e: impl std::fmt::Display) -> Error {
    Error::Config(e.to_string())
}

pub(crate) fn config(tls: &Tls) -> Result<ClientConfig, Error> {
    let identity = match &tls.client {
        Some((cert, key)) => {
            let identity = FileIdentity::new(cert, key);
            // Loaded now so a wrong path stops the start (upstream's LoadX509KeyPair); later
            // rotations of the files are picked up at the next handshake.
            if identity.current().map_err(config_err)?.is_none() {
                return Err(Error::Config(format!(
                    "--redis-client-certificate {}: no such file",
                    cert.display()
                )));
            }
            Some(Arc::new(identity) as Arc<dyn ResolvesClientCert>)
        }
        None => None,
    };
    if tls.insecure_skip_verify {
        let connector = Connector::new(&ServerTrust::Insecure, identity).map_err(config_err)?;
        let mut config = (*connector.config()).clone();
        // That connector speaks gRPC; Redis negotiates no ALPN.
        config.alpn_protocols.clear();
        return Ok(config);
    }
    let mut roots = RootCertStore::empty();
    match &tls.ca {
        Some(ca) => {
            for cert in repo_tls::read_chain(ca).map_err(config_err)? {
                roots.add(cert).map_err(|e| {
                    Error::Config(format!("--redis-ca-certificate {}: {e}", ca.display()))
                })?;
            }
        }
        None => {
            let (added, _) =
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if added == 0 {
                return Err(Error::Config(
                    "no system CA certificates found: set --redis-ca-certificate".into(),
                ));
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(repo_tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(config_err)?
        .with_root_certificates(roots);
    Ok(match identity {
        Some(identity) => builder.with_client_cert_resolver(identity),
        None => builder.with_no_client_auth(),
    })
}
