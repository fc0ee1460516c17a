//! Certificate revocation lists for client certificates. Every CRL must be signed by a CA of
//! the client-CA bundle; a revoked client is refused in the handshake (reason `revoked`).

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::{provider, signature, Bundle, Error};

/// CRLs checked against a bundle.
#[derive(Debug, Clone, Default)]
pub struct Crls {
    pub(crate) ders: Vec<CertificateRevocationListDer<'static>>,
    /// (issuer name DER, revoked serials) per CRL, for the X.509 v1 path webpki does not take.
    revoked: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
}

impl Crls {
    /// Parses a PEM file of CRLs (`-----BEGIN X509 CRL-----`) and checks each one's signature
    /// against the CA of the bundle that issued it.
    pub fn parse(bytes: &[u8], path: &Path, bundle: &Bundle) -> Result<Self, Error> {
        let bad = |index: usize, detail: String| Error::BadCertificate {
            path: path.to_path_buf(),
            index,
            detail,
        };
        let ders = CertificateRevocationListDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Pem {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        if ders.is_empty() {
            return Err(Error::Pem {
                path: path.to_path_buf(),
                detail: "no CRL found (expected -----BEGIN X509 CRL-----); remove the file to disable revocation checking".into(),
            });
        }
        let algs = provider().signature_verification_algorithms;
        let mut revoked = Vec::new();
        for (i, der) in ders.iter().enumerate() {
            let index = i + 1;
            let (_, crl) =
                CertificateRevocationList::from_der(der).map_err(|e| bad(index, e.to_string()))?;
            let issuer = crl.issuer().as_raw().to_vec();
            let signed = bundle
                .anchors
                .iter()
                .filter(|a| a.subject == issuer)
                .any(|a| signature::verify_issued_by(der, &a.spki, &algs).is_ok());
            if !signed {
                return Err(bad(
                    index,
                    format!(
                        "CRL issued by {:?} is not signed by a CA of the client-CA bundle",
                        crl.issuer().to_string()
                    ),
                ));
            }
            let serials = crl
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect();
            revoked.push((issuer, serials));
        }
        Ok(Self { ders, revoked })
    }

    /// Whether the certificate with this issuer name and serial is revoked.
    pub(crate) fn is_revoked(&self, issuer: &[u8], serial: &[u8]) -> bool {
        self.revoked
            .iter()
            .any(|(i, serials)| i == issuer && serials.iter().any(|s| s == serial))
    }

    /// How many certificates are revoked in total.
    pub fn len(&self) -> usize {
        self.revoked.iter().map(|(_, s)| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
