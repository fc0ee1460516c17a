//! The repo-server's serving certificate: loaded from the `argocd-repo-server-tls` mount or
//! generated for this process.

use std::path::Path;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{pem, provider, Error};

/// SANs of the generated certificate: upstream's two plus the Service name, so that strict
/// clients can verify it when given it as their CA.
pub(crate) const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "reposerver", "argocd-repo-server"];

/// A certificate chain with its signing key.
#[derive(Debug, Clone)]
pub struct ServingCert {
    certified: Arc<CertifiedKey>,
}

impl ServingCert {
    /// Loads a PEM chain (leaf first) and its key (PKCS#1, PKCS#8 or SEC1).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, Error> {
        Self::from_parts(pem::read_chain(cert)?, pem::read_key(key)?, cert, key)
    }

    /// Pairs an already parsed chain and key; the paths name them in errors.
    pub fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, Error> {
        Ok(Self {
            certified: certified_key(chain, key, cert_path, key_path)?,
        })
    }

    /// A new self-signed ECDSA P-256 certificate valid for 365 days.
    pub fn self_signed() -> Result<Self, Error> {
        let generate = |detail: rcgen::Error| Error::Generate {
            what: "self-signed serving certificate",
            detail: detail.to_string(),
        };
        let key = rcgen::KeyPair::generate().map_err(generate)?;
        let mut params =
            rcgen::CertificateParams::new(SELF_SIGNED_NAMES.map(String::from).to_vec())
                .map_err(generate)?;
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Argo CD");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(365);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()));
        let cert = params.self_signed(&key).map_err(generate)?;
        let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let signing = provider()
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| Error::Generate {
                what: "self-signed serving certificate",
                detail: e.to_string(),
            })?;
        Ok(Self {
            certified: Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing)),
        })
    }

    /// The chain and key, for rustls.
    pub fn certified(&self) -> Arc<CertifiedKey> {
        self.certified.clone()
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.certified.cert[0]
    }

    /// (subject, notBefore, notAfter) of the leaf, Unix seconds.
    pub fn validity(&self) -> (String, i64, i64) {
        X509Certificate::from_der(self.leaf())
            .map(|(_, c)| {
                let v = c.validity();
                (
                    c.subject().to_string(),
                    v.not_before.timestamp(),
                    v.not_after.timestamp(),
                )
            })
            .unwrap_or_default()
    }

    /// Subject, serial and expiry of the leaf, for log lines.
    pub fn describe(&self) -> String {
        match X509Certificate::from_der(self.leaf()) {
            Ok((_, c)) => format!(
                "subject={:?} serial={} notAfter={}",
                c.subject().to_string(),
                c.raw_serial_as_string(),
                c.validity().not_after
            ),
            Err(_) => "unparsable certificate".to_string(),
        }
    }
}

/// A random positive 128-bit serial, as upstream uses.
pub(crate) fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    provider()
        .secure_random
        .fill(&mut serial)
        .expect("system random source");
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    serial
}

/// Pairs a chain with its key, checking that the key belongs to the leaf. Built without
/// webpki parsing, so X.509 v1 leaves (the openssl recipe's) work as identities.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<CertifiedKey>, Error> {
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| Error::BadKey {
            path: key_path.to_path_buf(),
            detail: e.to_string(),
        })?;
    let (_, leaf) = X509Certificate::from_der(&chain[0]).map_err(|e| Error::BadCertificate {
        path: cert_path.to_path_buf(),
        index: 1,
        detail: e.to_string(),
    })?;
    if let Some(public) = signing.public_key() {
        if public.as_ref() != leaf.public_key().raw {
            return Err(Error::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
    }
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// Always presents the same chain.
#[derive(Debug)]
pub(crate) struct Fixed(pub Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
