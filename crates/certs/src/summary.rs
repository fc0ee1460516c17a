//! What a certificate says, read with x509-parser, and what is wrong with it for this link.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::{ExtendedKeyUsage, GeneralName, KeyUsage};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519, OID_SIG_ED448,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::dates::{date, day_count};
use crate::warning::{Role, Warning, SOON};
use crate::Error;

/// A subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Uri(String),
    Ip(IpAddr),
    Other(String),
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Uri(uri) => write!(f, "URI:{uri}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Other(other) => f.write_str(other),
        }
    }
}

/// One certificate, described.
#[derive(Debug, Clone)]
pub struct Summary {
    pub subject: String,
    pub issuer: String,
    /// Colon-separated hex.
    pub serial: String,
    /// 1, 2 or 3.
    pub version: u32,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Whole days until `not_after`; negative once expired.
    pub days_left: i64,
    pub sans: Vec<San>,
    /// `None` when the extension is absent.
    pub key_usage: Option<KeyUsage>,
    /// Purpose names (`serverAuth`, `clientAuth`, ...); `None` when the extension is absent,
    /// which allows any purpose.
    pub eku: Option<Vec<String>>,
    /// basicConstraints CA flag; `None` when the extension is absent.
    pub ca: Option<bool>,
    pub path_len: Option<u32>,
    /// E.g. `ECDSA P-256`, `RSA 2048`.
    pub key: String,
    /// SHA-256 of the DER, colon-separated upper-case hex (as `openssl x509 -fingerprint`).
    pub fingerprint: String,
    pub warnings: Vec<Warning>,
}

fn eku_names(eku: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let known = [
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
        (eku.any, "anyExtendedKeyUsage"),
    ];
    known
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| name.to_string())
        .chain(eku.other.iter().map(|oid| oid.to_id_string()))
        .collect()
}

fn san(name: &GeneralName<'_>) -> San {
    match name {
        GeneralName::DNSName(dns) => San::Dns(dns.to_string()),
        GeneralName::URI(uri) => San::Uri(uri.to_string()),
        GeneralName::IPAddress(bytes) => {
            match (<[u8; 4]>::try_from(*bytes), <[u8; 16]>::try_from(*bytes)) {
                (Ok(v4), _) => San::Ip(IpAddr::from(v4)),
                (_, Ok(v6)) => San::Ip(IpAddr::from(v6)),
                _ => San::Other(format!("IP:<{} bytes>", bytes.len())),
            }
        }
        other => San::Other(other.to_string()),
    }
}

fn key_name(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = spki.parsed().map(|k| k.key_size()).unwrap_or(0);
        format!("RSA {bits}")
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => "ECDSA P-256".into(),
            Some(c) if c == OID_NIST_EC_P384 => "ECDSA P-384".into(),
            Some(c) if c == OID_NIST_EC_P521 => "ECDSA P-521".into(),
            Some(c) => format!("ECDSA (curve {})", c.to_id_string()),
            None => "ECDSA (unknown curve)".into(),
        }
    } else if *alg == OID_SIG_ED25519 {
        "Ed25519".into()
    } else if *alg == OID_SIG_ED448 {
        "Ed448".into()
    } else {
        format!("unknown ({})", alg.to_id_string())
    }
}

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| hex::encode_upper([*b]))
        .collect::<Vec<_>>()
        .join(":")
}

impl Summary {
    /// Describes certificate number `index` (from 0) of `path` as of `now`.
    pub fn parse(
        der: &[u8],
        path: &Path,
        index: usize,
        now: OffsetDateTime,
    ) -> Result<Self, Error> {
        let bad = |detail: String| Error::Parse {
            path: path.to_path_buf(),
            index: index + 1,
            detail,
        };
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        let sans = cert
            .subject_alternative_name()
            .map_err(|e| bad(e.to_string()))?
            .map(|ext| ext.value.general_names.iter().map(san).collect())
            .unwrap_or_default();
        let key_usage = cert
            .key_usage()
            .map_err(|e| bad(e.to_string()))?
            .map(|ext| *ext.value);
        let eku = cert
            .extended_key_usage()
            .map_err(|e| bad(e.to_string()))?
            .map(|ext| eku_names(ext.value));
        let basic = cert.basic_constraints().map_err(|e| bad(e.to_string()))?;
        let validity = cert.validity();
        let not_after = validity.not_after.to_datetime();
        let mut summary = Summary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            version: cert.version().0 + 1,
            not_before: validity.not_before.to_datetime(),
            not_after,
            days_left: (not_after - now).whole_days(),
            sans,
            key_usage,
            eku,
            ca: basic.as_ref().map(|b| b.value.ca),
            path_len: basic.and_then(|b| b.value.path_len_constraint),
            key: key_name(cert.public_key()),
            fingerprint: fingerprint(der),
            warnings: Vec::new(),
        };
        summary.warnings = summary.judge(Role::of(path, index), now);
        Ok(summary)
    }

    /// Whether the extendedKeyUsage lets the certificate act as `purpose` (`clientAuth` or
    /// `serverAuth`). As in webpki, an absent extension allows it and `anyExtendedKeyUsage` does
    /// not.
    pub fn allows(&self, purpose: &str) -> bool {
        self.eku
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == purpose))
    }

    /// Why the certificate cannot issue certificates, if it cannot.
    pub fn ca_problem(&self) -> Option<&'static str> {
        if self.version < 3 {
            Some("X.509 v1 certificates carry no basicConstraints; reissue the CA with CA:TRUE")
        } else if self.ca != Some(true) {
            Some("basicConstraints CA:TRUE is missing; reissue it as a CA")
        } else if self.key_usage.is_some_and(|ku| !ku.key_cert_sign()) {
            Some("keyUsage lacks keyCertSign; reissue it with keyCertSign")
        } else {
            None
        }
    }

    /// What an operator should know about this certificate, used as `role`, as of `now`.
    fn judge(&self, role: Role, now: OffsetDateTime) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if now > self.not_after {
            warnings.push(Warning::Expired {
                days: (now - self.not_after).whole_days(),
            });
        } else if now < self.not_before {
            warnings.push(Warning::NotYetValid {
                days: (self.not_before - now).whole_days(),
            });
        } else if self.not_after - now < SOON {
            warnings.push(Warning::ExpiresSoon {
                days: self.days_left,
            });
        }
        let leaf = self.ca != Some(true);
        if self.version < 3 {
            warnings.push(Warning::Version(self.version));
        } else if leaf && self.sans.is_empty() && self.allows("serverAuth") {
            // A client-only certificate needs no names; one that may serve does.
            warnings.push(Warning::NoSan);
        }
        if leaf && !self.allows("serverAuth") && !self.allows("clientAuth") {
            warnings.push(Warning::NoTlsPurpose);
        }
        match role {
            Role::Leaf if !leaf => warnings.push(Warning::CaAsLeaf),
            Role::Ca => warnings.extend(self.ca_problem().map(Warning::NotACa)),
            _ => {}
        }
        warnings
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "none".to_string()
            } else {
                items.join(", ")
            }
        };
        let expired = self.warnings.iter().find_map(|w| match w {
            Warning::Expired { days } => Some(*days),
            _ => None,
        });
        let left = match expired {
            Some(days) => format!("expired {} ago", day_count(days)),
            None => format!("{} left", day_count(self.days_left)),
        };
        writeln!(f, "  subject:     {}", self.subject)?;
        writeln!(f, "  issuer:      {}", self.issuer)?;
        writeln!(f, "  serial:      {}", self.serial)?;
        writeln!(f, "  version:     {}", self.version)?;
        writeln!(f, "  not before:  {}", date(self.not_before))?;
        writeln!(f, "  not after:   {} ({left})", date(self.not_after))?;
        writeln!(
            f,
            "  SANs:        {}",
            list(self.sans.iter().map(San::to_string).collect())
        )?;
        match self.key_usage {
            Some(ku) => writeln!(f, "  key usage:   {ku}")?,
            None => writeln!(f, "  key usage:   none")?,
        }
        match &self.eku {
            Some(names) => writeln!(f, "  EKU:         {}", list(names.clone()))?,
            None => writeln!(f, "  EKU:         none (any purpose)")?,
        }
        match (self.ca, self.path_len) {
            (Some(true), Some(n)) => writeln!(f, "  CA:          yes, pathlen {n}")?,
            (Some(true), None) => writeln!(f, "  CA:          yes")?,
            (Some(false), _) => writeln!(f, "  CA:          no")?,
            (None, _) => writeln!(f, "  CA:          no (no basicConstraints)")?,
        }
        writeln!(f, "  key:         {}", self.key)?;
        writeln!(f, "  SHA-256:     {}", self.fingerprint)?;
        for warning in &self.warnings {
            writeln!(f, "  warning:     {warning}")?;
        }
        Ok(())
    }
}
