//! The repo-server's ephemeral identity for its own liveness probe under mTLS.
//!
//! A per-process CA signs one leaf (`CN=argocd-repo-server-health`, EKU clientAuth); the CA key
//! is dropped right after, so nothing else can ever chain to it. The CA is never added to the
//! client-CA bundle: the acceptor accepts exactly this leaf (pinned by its DER) and only on
//! loopback connections.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::serving::random_serial;
use crate::verify::Pin;
use crate::{provider, Error};

/// Subject CN of the probe's certificate.
pub(crate) const HEALTH_CN: &str = "argocd-repo-server-health";

/// The probe's certificate and key, held only in memory.
#[derive(Debug, Clone)]
pub struct HealthIdentity {
    ca: CertificateDer<'static>,
    certified: Arc<CertifiedKey>,
}

impl HealthIdentity {
    pub fn generate() -> Result<Self, Error> {
        let fail = |e: rcgen::Error| Error::Generate {
            what: "health-check client certificate",
            detail: e.to_string(),
        };
        let now = time::OffsetDateTime::now_utc();
        let ca_key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut ca = rcgen::CertificateParams::default();
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "argocd-repo-server-health-ca");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        ca.not_before = now - time::Duration::minutes(5);
        ca.not_after = now + time::Duration::days(3650);
        ca.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()));
        let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;
        let issuer = rcgen::Issuer::new(ca, ca_key);

        let key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut leaf =
            rcgen::CertificateParams::new(vec!["argocd-repo-server-healthcheck".to_string()])
                .map_err(fail)?;
        leaf.distinguished_name = rcgen::DistinguishedName::new();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, HEALTH_CN);
        leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        leaf.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        leaf.not_before = now - time::Duration::minutes(5);
        leaf.not_after = now + time::Duration::days(3650);
        leaf.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()));
        let leaf_cert = leaf.signed_by(&key, &issuer).map_err(fail)?;
        drop(issuer);

        let signing = provider()
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(key.serialize_der().into()))
            .map_err(|e| Error::Generate {
                what: "health-check client certificate",
                detail: e.to_string(),
            })?;
        Ok(Self {
            ca: ca_cert.der().clone(),
            certified: Arc::new(CertifiedKey::new(vec![leaf_cert.der().clone()], signing)),
        })
    }

    /// The subject CN, for the startup log line.
    pub fn common_name(&self) -> &'static str {
        HEALTH_CN
    }

    /// The chain and key the probe presents.
    pub fn certified(&self) -> Arc<CertifiedKey> {
        self.certified.clone()
    }

    /// The leaf the acceptor pins.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.certified.cert[0]
    }

    pub(crate) fn pin(&self) -> Result<Pin, Error> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone())?;
        let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| Error::Settings(format!("health verifier: {e}")))?;
        Ok(Pin {
            leaf: self.leaf().clone(),
            chain,
        })
    }
}
