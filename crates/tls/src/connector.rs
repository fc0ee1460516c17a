//! Client side of the handshake, as Argo CD's components do it: TLS with the server certificate
//! unverified by default (upstream's behaviour), or verified against a CA bundle with the
//! hostname of the target; a client certificate when one is configured.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use parking_lot::Mutex;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{pem, provider, signature, Error};

/// How the client treats the repo-server's certificate.
#[derive(Debug, Clone)]
pub enum ServerTrust {
    /// Not verified (upstream's default); handshake signatures are still checked.
    Insecure,
    /// Verified against the CA files, with the target hostname.
    Roots(Arc<Roots>),
}

/// CA files, re-read when their modification time changes (upstream reads them once).
#[derive(Debug)]
pub struct Roots {
    paths: Vec<PathBuf>,
    current: Mutex<(Vec<Option<SystemTime>>, Arc<WebPkiServerVerifier>)>,
}

fn mtimes(paths: &[PathBuf]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

fn verifier(paths: &[PathBuf]) -> Result<Arc<WebPkiServerVerifier>, Error> {
    let mut roots = RootCertStore::empty();
    for path in paths {
        for cert in pem::read_chain(path)? {
            roots.add(cert)?;
        }
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| Error::Settings(format!("server verifier: {e}")))
}

impl Roots {
    /// The verifier for the files as they are now; a file that turned unreadable or invalid
    /// keeps the previous CAs (logged), since failing every connection helps no one.
    fn verifier(&self) -> Arc<WebPkiServerVerifier> {
        let now = mtimes(&self.paths);
        let mut current = self.current.lock();
        if current.0 != now {
            match verifier(&self.paths) {
                Ok(fresh) => {
                    tracing::info!(files = ?self.paths, "repo-server CA reloaded (mtime changed)");
                    *current = (now, fresh);
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot reload the repo-server CA; keeping the previous one");
                    current.0 = now;
                }
            }
        }
        current.1.clone()
    }
}

impl ServerTrust {
    /// Loads a CA bundle. A missing or empty file is an error (upstream silently builds an empty
    /// pool, after which every handshake fails).
    pub fn load(paths: &[&Path]) -> Result<Self, Error> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
        let stamp = mtimes(&paths);
        let initial = verifier(&paths)?;
        Ok(Self::Roots(Arc::new(Roots {
            paths,
            current: Mutex::new((stamp, initial)),
        })))
    }
}

/// The repo-server certificate lacks a subjectAltName, so hostname verification cannot work.
#[derive(thiserror::Error)]
#[error("the repo-server certificate has no subjectAltName (CN-only certificates cannot be verified by hostname since Go 1.15 and here); reissue it with a SAN for the address clients dial, e.g. DNS:argocd-repo-server (`repoctl certs init` does this, or add `-addext subjectAltName=DNS:argocd-repo-server` to openssl), or drop strict verification")]
pub(crate) struct NoSan;

#[derive(Debug)]
struct Insecure(WebPkiSupportedAlgorithms);

#[derive(Debug)]
struct Strict {
    roots: Arc<Roots>,
    algs: WebPkiSupportedAlgorithms,
}

fn has_san(cert: &CertificateDer<'_>) -> bool {
    X509Certificate::from_der(cert)
        .ok()
        .and_then(|(_, c)| c.subject_alternative_name().ok().flatten().map(|_| ()))
        .is_some()
}

macro_rules! signatures {
    ($algs:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            signature::verify_handshake(message, cert, dss, &self.$algs, false)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            signature::verify_handshake(message, cert, dss, &self.$algs, true)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.$algs.supported_schemes()
        }
    };
}

impl ServerCertVerifier for Insecure {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    signatures!(0);
}

impl ServerCertVerifier for Strict {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !has_san(end_entity) {
            return Err(CertificateError::Other(OtherError(Arc::new(NoSan))).into());
        }
        self.roots
            .verifier()
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    signatures!(algs);
}

/// Builds client TLS connections to the repo-server.
#[derive(Debug, Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
}

impl Connector {
    pub fn new(
        trust: &ServerTrust,
        identity: Option<Arc<dyn ResolvesClientCert>>,
    ) -> Result<Self, Error> {
        Self::with_provider(trust, identity, provider())
    }

    /// As [`Connector::new`], offering the suites and key exchanges of `provider` (which must
    /// be aws-lc-rs based, like every provider here).
    pub fn with_provider(
        trust: &ServerTrust,
        identity: Option<Arc<dyn ResolvesClientCert>>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, Error> {
        let algs = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match trust {
            ServerTrust::Insecure => Arc::new(Insecure(algs)),
            ServerTrust::Roots(roots) => Arc::new(Strict {
                roots: roots.clone(),
                algs,
            }),
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match identity {
            Some(identity) => builder.with_client_cert_resolver(identity),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        // A resumed session would keep presenting a rotated-out client certificate.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// Runs the handshake over `tcp`; `host` is the SNI and the name verified in strict mode.
    pub async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid server name {host:?}: {e}"),
            )
        })?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
    }
}

// rustls prints a certificate error's payload with `Debug`; make that the operator's message.
impl std::fmt::Debug for NoSan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
