//! The repo-server's client-certificate verifier: a CA-flagged leaf is refused (see
//! [`CaAsClient`]); the chain is checked in `path` (X.509 v3 through webpki, X.509 v1 leaves,
//! which OpenSSL 3.0 produces for the documented `openssl x509 -req` recipe and which Go
//! accepts, by our own rules); a chain that passed is remembered (see `verified`).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use crate::path::Trust;
use crate::reason::CaAsClient;
use crate::revocation::Crls;
use crate::verified::{self, Verified};
use crate::{provider, signature, Bundle};

/// A pinned identity accepted in addition to the bundle: the health probe's leaf, only on
/// loopback connections (the acceptor decides which verifier a connection gets).
#[derive(Debug, Clone)]
pub(crate) struct Pin {
    pub leaf: CertificateDer<'static>,
    pub chain: Arc<dyn ClientCertVerifier>,
}

/// Verifies client certificates against a [`Bundle`].
#[derive(Debug)]
pub struct ClientVerifier {
    trust: Trust,
    hints: Vec<DistinguishedName>,
    algs: WebPkiSupportedAlgorithms,
    pin: Option<Pin>,
    mandatory: bool,
    /// Chains this verifier accepted; see [`Verified`].
    verified: Verified,
}

impl ClientVerifier {
    pub fn new(bundle: &Bundle) -> Result<Self, crate::Error> {
        Self::build(bundle, None, &Crls::default())
    }

    /// Also refuses chains with a certificate revoked by `crls`. A CA without a CRL is not
    /// an error.
    pub fn with_crls(bundle: &Bundle, crls: &Crls) -> Result<Self, crate::Error> {
        Self::build(bundle, None, crls)
    }

    pub(crate) fn build(
        bundle: &Bundle,
        pin: Option<Pin>,
        crls: &Crls,
    ) -> Result<Self, crate::Error> {
        let algs = provider().signature_verification_algorithms;
        Ok(Self {
            trust: Trust::new(bundle, crls, algs),
            hints: bundle.roots.subjects(),
            algs,
            pin,
            mandatory: true,
            verified: Verified::default(),
        })
    }

    /// Permissive migration mode: a client without a certificate is let through (and the
    /// server counts it); a certificate that is presented is still verified in full.
    pub fn permissive(mut self) -> Self {
        self.mandatory = false;
        self
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if let Some(pin) = &self.pin {
            if pin.leaf.as_ref() == end_entity.as_ref() {
                return pin.chain.verify_client_cert(end_entity, intermediates, now);
            }
        }
        let key = verified::key(end_entity, intermediates);
        // Only a pass is taken from memory: the remembered window may be narrower than the one
        // the verifier would use now (an unused extra intermediate), so a refusal is re-checked.
        if self.verified.valid(&key, now) {
            return Ok(ClientCertVerified::assertion());
        }
        let (_, leaf) =
            X509Certificate::from_der(end_entity).map_err(|_| CertificateError::BadEncoding)?;
        if leaf
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca)
        {
            return Err(CertificateError::Other(OtherError(Arc::new(CaAsClient))).into());
        }
        // Parsed once here: webpki takes v3 leaves, our own path the rest.
        let window = if leaf.version() == X509Version::V3 {
            self.trust.v3(end_entity, &leaf, intermediates, now)?
        } else {
            self.trust.v1(&leaf, end_entity, now)?
        };
        self.verified.insert(key, window);
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        signature::verify_handshake(message, cert, dss, &self.algs, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        signature::verify_handshake(message, cert, dss, &self.algs, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
