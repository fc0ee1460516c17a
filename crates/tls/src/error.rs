use std::path::PathBuf;

/// Errors loading or checking certificate material. Messages name the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path}: invalid PEM: {detail}")]
    Pem { path: PathBuf, detail: String },
    #[error("{path}: no private key found (expected PKCS#1, PKCS#8 or SEC1 PEM)")]
    NoKey { path: PathBuf },
    #[error("{path}: certificate #{index} cannot be parsed: {detail}")]
    BadCertificate {
        path: PathBuf,
        index: usize,
        detail: String,
    },
    #[error("{path}: unsupported private key: {detail}")]
    BadKey { path: PathBuf, detail: String },
    #[error("{key} does not match the certificate in {cert}: use the key the certificate was issued for")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{path}: no usable CA certificate (every certificate was skipped: {skipped}); put the CA that signs the client certificates in this file, or remove the file to serve without client authentication")]
    NoUsableCa { path: PathBuf, skipped: String },
    #[error("TLS settings: {0}")]
    Settings(String),
    #[error("cannot generate {what}: {detail}")]
    Generate { what: &'static str, detail: String },
    #[error("TLS configuration rejected by rustls: {0}")]
    Rustls(#[from] rustls::Error),
}
