//! Certificate revocation lists for client certificates. Every certificate of a client's chain
//! is checked against the CRL of its issuer: a leaf against its CA's, an intermediate against
//! the CRL of the CA above it. A CRL issued by a CA of the client-CA bundle must be signed by it
//! (checked here, on load); a CRL issued by an intermediate, which only clients present, is
//! checked against that intermediate's key in each handshake that uses it. A revoked client is
//! refused in the handshake (reason `revoked`).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;
use webpki::OwnedCertRevocationList;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::{provider, signature, Bundle, Error};

/// CRLs checked against a bundle.
#[derive(Debug, Clone, Default)]
pub struct Crls {
    /// Every CRL of the file, as webpki checks chains against them.
    pub(crate) lists: Arc<Vec<OwnedCertRevocationList>>,
    /// (issuer name DER, revoked serials) per CRL of a bundle CA, for the X.509 v1 path webpki
    /// does not take (a v1 leaf's issuer is always a bundle CA).
    revoked: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    /// How many revoked serials the file lists in total.
    total: usize,
    /// How many CRLs were issued by CAs outside the bundle (intermediates).
    intermediate: usize,
}

impl Crls {
    /// Parses a PEM file of CRLs (`-----BEGIN X509 CRL-----`). A CRL whose issuer is named like
    /// a CA of the bundle must carry that CA's signature; any other is taken as an
    /// intermediate's, whose signature is checked when a client presents that intermediate.
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
        let mut crls = Self::default();
        // (CRL number, thisUpdate, list): webpki takes the first CRL of an issuer it finds.
        let mut lists = Vec::with_capacity(ders.len());
        for (i, der) in ders.iter().enumerate() {
            let index = i + 1;
            let (_, crl) =
                CertificateRevocationList::from_der(der).map_err(|e| bad(index, e.to_string()))?;
            lists.push((
                crl.crl_number().cloned(),
                crl.last_update().timestamp(),
                OwnedCertRevocationList::from_der(der).map_err(|e| bad(index, format!("{e:?}")))?,
            ));
            let issuer = crl.issuer().as_raw().to_vec();
            let serials: Vec<Vec<u8>> = crl
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect();
            crls.total += serials.len();
            let named: Vec<_> = bundle
                .anchors
                .iter()
                .filter(|a| a.subject == issuer)
                .collect();
            if named.is_empty() {
                tracing::info!(
                    file = %path.display(),
                    index,
                    issuer = %crl.issuer(),
                    "CRL issued by a CA outside the client-CA bundle: taken as an intermediate's, checked against the intermediate clients present"
                );
                crls.intermediate += 1;
                continue;
            }
            if !named
                .iter()
                .any(|a| signature::verify_issued_by(der, &a.spki, &algs).is_ok())
            {
                return Err(bad(
                    index,
                    format!(
                        "CRL issued by {:?} is not signed by a CA of the client-CA bundle",
                        crl.issuer().to_string()
                    ),
                ));
            }
            crls.revoked.push((issuer, serials));
        }
        // Newest first, so a CRL appended after an older one of the same CA is the one applied.
        lists.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
        crls.lists = Arc::new(lists.into_iter().map(|(_, _, list)| list).collect());
        Ok(crls)
    }

    /// Whether the certificate with this issuer name and serial is revoked by a bundle CA.
    pub(crate) fn is_revoked(&self, issuer: &[u8], serial: &[u8]) -> bool {
        self.revoked
            .iter()
            .any(|(i, serials)| i == issuer && serials.iter().any(|s| s == serial))
    }

    /// How many certificates are revoked in total.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many CRLs come from intermediates (CAs outside the bundle).
    pub fn intermediate(&self) -> usize {
        self.intermediate
    }
}
