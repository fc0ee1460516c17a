//! Whether a client's chain leads to a trusted CA, certificate by certificate.
//!
//! X.509 v3 leaves go through webpki: signatures, the dates of the leaf and intermediates, EKU
//! clientAuth-or-absent, name constraints on SANs, and revocation of every certificate of the
//! path against the CRL of its issuer. On each path webpki finds, this adds what it leaves out:
//! the bundle CA's own dates (webpki keeps no dates for trust anchors) and name constraints on
//! the CN and URI SANs (see `constraints`). A path refused here makes webpki try the next, so
//! an expired CA next to its renewal (same name and key) does not refuse its clients.
//!
//! X.509 v1 leaves (OpenSSL 3.0's `openssl x509 -req` recipe) are checked here by the same
//! rules: the issuer must be a CA of the bundle itself, never another v1 certificate.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, Error, OtherError, RootCertStore};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{
    CertRevocationList, ExpirationPolicy, KeyUsage, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy, VerifiedPath,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::bundle::Anchor;
use crate::constraints::{self, Limits};
use crate::reason::ChainRefusal;
use crate::verified::Window;
use crate::{signature, Bundle, Crls};

/// What a verifier trusts: the bundle's CAs and the CRLs.
#[derive(Debug)]
pub(crate) struct Trust {
    roots: Arc<RootCertStore>,
    anchors: Arc<Vec<Anchor>>,
    lists: Vec<CertRevocationList<'static>>,
    crls: Crls,
    algs: WebPkiSupportedAlgorithms,
}

/// Why a CA outside its validity period cannot vouch for anything now.
fn outside(window: Window, now: UnixTime, name: &str) -> Option<ChainRefusal> {
    match window.check(now) {
        Ok(()) => None,
        Err(Error::InvalidCertificate(CertificateError::NotValidYet)) => {
            Some(ChainRefusal::CaNotYetValid(name.to_string()))
        }
        Err(_) => Some(ChainRefusal::CaExpired(name.to_string())),
    }
}

fn named(outside: constraints::Outside) -> ChainRefusal {
    ChainRefusal::NameConstraints {
        name: outside.name,
        ca: outside.ca,
    }
}

impl Trust {
    pub(crate) fn new(bundle: &Bundle, crls: &Crls, algs: WebPkiSupportedAlgorithms) -> Self {
        Self {
            roots: bundle.roots.clone(),
            anchors: bundle.anchors.clone(),
            lists: crls.lists.iter().cloned().map(Into::into).collect(),
            crls: crls.clone(),
            algs,
        }
    }

    /// Verifies a v3 leaf and its chain; returns the window in which the path is valid.
    pub(crate) fn v3(
        &self,
        end_entity: &CertificateDer<'_>,
        leaf: &X509Certificate<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Window, Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| self.error(e, leaf, intermediates, now))?;
        let lists: Vec<&CertRevocationList<'_>> = self.lists.iter().collect();
        let revocation = RevocationOptionsBuilder::new(&lists).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::Chain)
                // A CA without a CRL in the file is not an error.
                .with_status_policy(UnknownStatusPolicy::Allow)
                .with_expiration_policy(ExpirationPolicy::Ignore)
                .build()
        });
        let refused = RefCell::new(None);
        let window = Cell::new(None);
        let check = |path: &VerifiedPath<'_>| match self.path(leaf, path, now) {
            Ok(w) => {
                window.set(Some(w));
                Ok(())
            }
            Err((refusal, err)) => {
                *refused.borrow_mut() = Some(refusal);
                Err(err)
            }
        };
        let verified = cert.verify_for_usage(
            self.algs.all,
            &self.roots.roots,
            intermediates,
            now,
            KeyUsage::client_auth(),
            revocation,
            Some(&check),
        );
        match verified {
            Ok(_) => window
                .get()
                .ok_or_else(|| CertificateError::UnknownIssuer.into()),
            Err(err) => Err(match refused.take() {
                Some(refusal) => refusal.into(),
                None => self.error(err, leaf, intermediates, now),
            }),
        }
    }

    /// The checks webpki leaves out, on one path it verified.
    fn path(
        &self,
        leaf: &X509Certificate<'_>,
        path: &VerifiedPath<'_>,
        now: UnixTime,
    ) -> Result<Window, (ChainRefusal, webpki::Error)> {
        let anchor = self
            .anchor(path.anchor(), now)
            .map_err(|r| (r, webpki::Error::InvalidCertValidity))?;
        let mut window = Window::single(leaf).and(anchor.window());
        let mut limits = Vec::new();
        for cert in path.intermediate_certificates() {
            let der = cert.der();
            let unreadable = || {
                (
                    ChainRefusal::Unreadable("intermediate"),
                    webpki::Error::BadDer,
                )
            };
            let (_, ca) = X509Certificate::from_der(&der).map_err(|_| unreadable())?;
            window = window.and(Window::single(&ca));
            limits.extend(Limits::of(&ca).map_err(|_| unreadable())?);
        }
        constraints::check(leaf, anchor.limits.iter().chain(&limits))
            .map_err(|o| (named(o), webpki::Error::NameConstraintViolation))?;
        Ok(window)
    }

    /// The bundle CA webpki chained to, within its dates: a renewal with the same name and key
    /// stands in for an expired one.
    fn anchor(&self, trust: &TrustAnchor<'_>, now: UnixTime) -> Result<&Anchor, ChainRefusal> {
        let mut refusal = ChainRefusal::Unreadable("trust anchor");
        for anchor in self.anchors.iter().filter(|a| a.is(trust)) {
            match outside(anchor.window(), now, &anchor.name) {
                None => return Ok(anchor),
                Some(r) => refusal = r,
            }
        }
        Err(refusal)
    }

    /// Verifies a v1 leaf issued by a CA of the bundle; returns the window it is valid in.
    pub(crate) fn v1(
        &self,
        leaf: &X509Certificate<'_>,
        der: &[u8],
        now: UnixTime,
    ) -> Result<Window, Error> {
        let own = Window::single(leaf);
        own.check(now)?;
        let issuer = leaf.issuer().as_raw();
        let mut refusal = None;
        let mut named_issuer = false;
        for anchor in self.anchors.iter().filter(|a| a.subject == issuer) {
            named_issuer = true;
            if signature::verify_issued_by(der, &anchor.spki, &self.algs).is_err() {
                continue;
            }
            if let Some(r) = outside(anchor.window(), now, &anchor.name) {
                refusal = Some(r);
                continue;
            }
            if self
                .crls
                .is_revoked(issuer, leaf.tbs_certificate.raw_serial())
            {
                return Err(CertificateError::Revoked.into());
            }
            constraints::check(leaf, anchor.limits.iter()).map_err(named)?;
            return Ok(own.and(anchor.window()));
        }
        Err(match refusal {
            Some(r) => r.into(),
            None if named_issuer => CertificateError::BadSignature.into(),
            None => CertificateError::UnknownIssuer.into(),
        })
    }

    /// A webpki refusal in the terms `Reason` classifies.
    fn error(
        &self,
        err: webpki::Error,
        leaf: &X509Certificate<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Error {
        use webpki::Error as E;
        #[allow(deprecated)]
        match err {
            // webpki does not say whose dates: the leaf's own first, then an intermediate's.
            E::CertExpired { .. } | E::CertNotValidYet { .. } | E::InvalidCertValidity => {
                if let Err(e) = Window::single(leaf).check(now) {
                    return e;
                }
                intermediates
                    .iter()
                    .filter_map(|der| X509Certificate::from_der(der).ok())
                    .find_map(|(_, ca)| {
                        outside(Window::single(&ca), now, &ca.subject().to_string())
                    })
                    .map_or(CertificateError::Expired.into(), Into::into)
            }
            E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding.into(),
            E::UnknownIssuer => CertificateError::UnknownIssuer.into(),
            E::CertRevoked => CertificateError::Revoked.into(),
            E::InvalidSignatureForPublicKey => CertificateError::BadSignature.into(),
            E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
                CertificateError::InvalidPurpose.into()
            }
            E::NameConstraintViolation => ChainRefusal::NameConstraints {
                name: "a subject alternative name".into(),
                ca: "a CA of the chain".into(),
            }
            .into(),
            E::InvalidCrlSignatureForPublicKey
            | E::IssuerNotCrlSigner
            | E::UnsupportedCrlSignatureAlgorithm
            | E::UnsupportedCrlSignatureAlgorithmForPublicKey
            | E::UnsupportedCrlSignatureAlgorithmContext(_)
            | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => {
                ChainRefusal::CrlSignature.into()
            }
            other => CertificateError::Other(OtherError(Arc::new(other))).into(),
        }
    }
}
