//! Who is calling: the subject CN, DNS and URI SANs and serial of a verified client certificate.
//! Recorded once per connection and attached to every RPC's log line; the base for
//! per-identity authorization.
//!
//! Every name read here is one the issuing chain vouches for: the client verifier (repo-tls)
//! refuses a certificate whose CN, DNS SAN or URI SAN host lies outside the name constraints of
//! any CA of its chain, so a tenant's constrained CA cannot mint `argocd-server`.
#![forbid(unsafe_code)]

mod policy;

pub use policy::{Decision, Policy, PolicyError, RPCS, SERVICE};

use std::fmt;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A peer's identity as its certificate states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub common_name: Option<String>,
    pub dns: Vec<String>,
    pub uris: Vec<String>,
    /// Colon-separated hex, as `openssl x509 -serial` groups it.
    pub serial: String,
    /// Validity period, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl Identity {
    /// Reads the identity from a DER certificate; `None` if it does not parse (it was already
    /// verified, so that does not happen for connected peers).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let mut dns = Vec::new();
        let mut uris = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    GeneralName::URI(u) => uris.push(u.to_string()),
                    _ => {}
                }
            }
        }
        Some(Self {
            common_name,
            dns,
            uris,
            serial: cert.raw_serial_as_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// The most specific name: the first URI SAN, else the CN, else the first DNS SAN.
    pub fn name(&self) -> &str {
        self.uris
            .first()
            .or(self.common_name.as_ref())
            .or(self.dns.first())
            .map(String::as_str)
            .unwrap_or("")
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CN={}", self.common_name.as_deref().unwrap_or(""))?;
        for d in &self.dns {
            write!(f, " DNS:{d}")?;
        }
        for u in &self.uris {
            write!(f, " URI:{u}")?;
        }
        write!(f, " serial={}", self.serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_testkit::{Ca, Leaf};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn reads_cn_sans_and_serial() {
        let ca = Ca::new("ca");
        let mut leaf = Leaf::client("argocd-server");
        leaf.dns = vec!["argocd-server.argocd.svc".into()];
        leaf.uris = vec!["spiffe://cluster.local/ns/argocd/sa/argocd-server".into()];
        let pem = ca.issue(&leaf).cert;
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let id = Identity::from_der(&der).unwrap();
        assert_eq!(id.common_name.as_deref(), Some("argocd-server"));
        assert_eq!(id.dns, ["argocd-server.argocd.svc"]);
        assert_eq!(
            id.name(),
            "spiffe://cluster.local/ns/argocd/sa/argocd-server"
        );
        assert!(id.serial.contains(':'));
        let shown = id.to_string();
        assert!(
            shown.starts_with("CN=argocd-server DNS:argocd-server.argocd.svc URI:spiffe://"),
            "{shown}"
        );
    }

    #[test]
    fn garbage_is_none() {
        assert!(Identity::from_der(b"nope").is_none());
    }
}
