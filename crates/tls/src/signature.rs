//! Signature checks done with the crypto provider's own algorithms, for certificates that
//! webpki will not parse (X.509 v1). Used for the leaf's signature by its CA and for the TLS
//! handshake signature made with the leaf's key.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use std::sync::Arc;

use rustls::{
    CertificateError, DigitallySignedStruct, Error, OtherError, PeerMisbehaved, SignatureScheme,
};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use crate::der;

/// The issuer's key type and the certificate's signature algorithm match no algorithm of the
/// crypto provider.
#[derive(thiserror::Error)]
#[error("unsupported certificate signature algorithm")]
struct UnsupportedAlgorithm;

/// RFC 8446 4.2.3: PKCS#1 v1.5 and SHA-1 signatures are not allowed in TLS 1.3 handshakes.
fn allowed_in_tls13(scheme: SignatureScheme) -> bool {
    !matches!(
        scheme,
        SignatureScheme::RSA_PKCS1_SHA1
            | SignatureScheme::RSA_PKCS1_SHA256
            | SignatureScheme::RSA_PKCS1_SHA384
            | SignatureScheme::RSA_PKCS1_SHA512
            | SignatureScheme::ECDSA_SHA1_Legacy
    )
}

/// Whether webpki can handle this certificate (X.509 v3). Anything else takes our path.
pub(crate) fn is_v3(cert: &CertificateDer<'_>) -> bool {
    X509Certificate::from_der(cert)
        .map(|(_, c)| c.version() == X509Version::V3)
        .unwrap_or(true)
}

/// Checks that `cert` was signed by the key in `issuer_spki`.
pub(crate) fn verify_issued_by(
    cert: &[u8],
    issuer_spki: &[u8],
    algs: &WebPkiSupportedAlgorithms,
) -> Result<(), Error> {
    let parts = der::signed_cert(cert).ok_or(CertificateError::BadEncoding)?;
    let key = der::spki(issuer_spki).ok_or(CertificateError::BadEncoding)?;
    let alg = algs
        .all
        .iter()
        .find(|a| {
            *a.signature_alg_id() == *parts.algorithm && *a.public_key_alg_id() == *key.algorithm
        })
        .ok_or_else(|| CertificateError::Other(OtherError(Arc::new(UnsupportedAlgorithm))))?;
    alg.verify_signature(key.key, parts.tbs, parts.signature)
        .map_err(|_| CertificateError::BadSignature.into())
}

/// Whether `signed` (a certificate or CRL, DER) carries a valid signature by the key of the
/// certificate `issuer` (DER).
pub fn issued_by(signed: &[u8], issuer: &[u8]) -> bool {
    let Ok((_, issuer)) = X509Certificate::from_der(issuer) else {
        return false;
    };
    verify_issued_by(
        signed,
        issuer.public_key().raw,
        &crate::provider().signature_verification_algorithms,
    )
    .is_ok()
}

/// Verifies a handshake signature made with the key of `cert`, which may be X.509 v1.
pub(crate) fn verify_handshake(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algs: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> Result<HandshakeSignatureValid, Error> {
    if is_v3(cert) {
        return if tls13 {
            rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
        } else {
            rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
        };
    }
    if tls13 && !allowed_in_tls13(dss.scheme) {
        return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    let candidates = algs
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, algs)| *algs)
        .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
    let (_, parsed) = X509Certificate::from_der(cert).map_err(|_| CertificateError::BadEncoding)?;
    let key = der::spki(parsed.public_key().raw).ok_or(CertificateError::BadEncoding)?;
    let alg = candidates
        .iter()
        .find(|a| *a.public_key_alg_id() == *key.algorithm)
        .ok_or(Error::PeerIncompatible(
            rustls::PeerIncompatible::NoSignatureSchemesInCommon,
        ))?;
    alg.verify_signature(key.key, message, dss.signature())
        .map(|_| HandshakeSignatureValid::assertion())
        .map_err(|_| CertificateError::BadSignature.into())
}

// rustls prints a certificate error's payload with `Debug`; make that the operator's message.
impl std::fmt::Debug for UnsupportedAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
