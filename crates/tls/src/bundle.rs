//! A client-CA bundle: the certificates the repo-server trusts to issue client identities.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use rustls_pki_types::TrustAnchor;

use crate::constraints::Limits;
use crate::verified::Window;
use crate::{pem, Error};

/// One trusted CA.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    /// Raw DER of the subject name, compared byte for byte with a leaf's issuer.
    pub subject: Vec<u8>,
    /// Raw DER of the SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The same two as webpki's trust anchor holds them, to find the CA of a verified path.
    pub trust: (Vec<u8>, Vec<u8>),
    /// For expiry reporting: subject as text and validity in Unix seconds.
    pub name: String,
    pub not_before: i64,
    pub not_after: i64,
    /// Name constraints the CA puts on the certificates below it.
    pub limits: Option<Limits>,
}

impl Anchor {
    /// webpki never checks a trust anchor's dates; the verifiers do, with this.
    pub(crate) fn window(&self) -> Window {
        Window::new(self.not_before, self.not_after)
    }

    /// Whether this is the CA webpki chained to (a renewal shares name and key).
    pub(crate) fn is(&self, anchor: &TrustAnchor<'_>) -> bool {
        self.trust.0 == anchor.subject.as_ref()
            && self.trust.1 == anchor.subject_public_key_info.as_ref()
    }
}

/// The parsed bundle: only certificates that may act as a CA are kept.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub(crate) path: PathBuf,
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) anchors: Arc<Vec<Anchor>>,
}

impl Bundle {
    /// Reads a PEM bundle. Entries that cannot be a CA (X.509 v1, basicConstraints CA:FALSE or
    /// absent, keyUsage without keyCertSign) are skipped with a warning; a bundle with no usable
    /// CA, or with no certificate at all, is an error.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let certs = pem::read_chain(path)?;
        Self::from_certs(path, certs)
    }

    pub(crate) fn from_certs(
        path: &Path,
        certs: Vec<CertificateDer<'static>>,
    ) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        let mut anchors = Vec::new();
        let mut skipped = Vec::new();
        for (i, der) in certs.into_iter().enumerate() {
            let index = i + 1;
            let (_, cert) = X509Certificate::from_der(&der).map_err(|e| Error::BadCertificate {
                path: path.to_path_buf(),
                index,
                detail: e.to_string(),
            })?;
            let subject = cert.subject().to_string();
            if let Some(why) = not_a_ca(&cert) {
                tracing::warn!(file = %path.display(), index, subject, "Skipping certificate in client CA bundle: {why}");
                skipped.push(format!("#{index} {why}"));
                continue;
            }
            let bad = |detail: String| Error::BadCertificate {
                path: path.to_path_buf(),
                index,
                detail,
            };
            let limits =
                Limits::of(&cert).map_err(|_| bad("malformed nameConstraints extension".into()))?;
            roots.add(der.clone()).map_err(|e| bad(e.to_string()))?;
            let trust = roots
                .roots
                .last()
                .map(|t| {
                    (
                        t.subject.as_ref().to_vec(),
                        t.subject_public_key_info.as_ref().to_vec(),
                    )
                })
                .unwrap_or_default();
            anchors.push(Anchor {
                subject: cert.subject().as_raw().to_vec(),
                spki: cert.public_key().raw.to_vec(),
                trust,
                name: subject,
                not_before: cert.validity().not_before.timestamp(),
                not_after: cert.validity().not_after.timestamp(),
                limits,
            });
        }
        if anchors.is_empty() {
            return Err(Error::NoUsableCa {
                path: path.to_path_buf(),
                skipped: skipped.join("; "),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            roots: Arc::new(roots),
            anchors: Arc::new(anchors),
        })
    }

    /// The file this bundle came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many CAs are trusted.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// (subject, notBefore, notAfter) of each trusted CA, Unix seconds.
    pub fn validity(&self) -> Vec<(String, i64, i64)> {
        self.anchors
            .iter()
            .map(|a| (a.name.clone(), a.not_before, a.not_after))
            .collect()
    }

    /// Never true for a loaded bundle; present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// Why a certificate may not issue client certificates, if it may not.
pub(crate) fn not_a_ca(cert: &X509Certificate<'_>) -> Option<&'static str> {
    if cert.version() != X509Version::V3 {
        return Some("X.509 v1/v2 certificates cannot act as a CA (reissue the CA with basicConstraints CA:TRUE)");
    }
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => return Some("not a CA certificate (basicConstraints CA:TRUE missing)"),
        Err(_) => return Some("malformed basicConstraints extension"),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => Some("keyUsage does not include keyCertSign"),
        Err(_) => Some("malformed keyUsage extension"),
        _ => None,
    }
}
