//! `--tlsminversion`, `--tlsmaxversion` and `--tlsciphers`, with Go's names.

use std::sync::Arc;

use rustls::crypto::aws_lc_rs::cipher_suite as cs;
use rustls::crypto::CryptoProvider;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use crate::{provider, Error};

/// A TLS protocol version as Argo CD spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V10,
    V11,
    V12,
    V13,
}

impl Version {
    pub fn parse(value: &str, flag: &str) -> Result<Self, Error> {
        match value {
            "1.0" => Ok(Self::V10),
            "1.1" => Ok(Self::V11),
            "1.2" => Ok(Self::V12),
            "1.3" => Ok(Self::V13),
            other => Err(Error::Settings(format!(
                "{flag}: unknown TLS version {other:?}; use one of 1.0, 1.1, 1.2, 1.3"
            ))),
        }
    }
}

/// TLS 1.2 suites this server can offer, by their Go names (aliases included).
pub const SUPPORTED_SUITES: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3 suites: always enabled, accepted in the list and ignored, as Go does.
const TLS13_NAMES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Upstream's default `--tlsciphers`.
pub const DEFAULT_CIPHERS: &str = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";

/// The protocol versions and suites a server offers.
#[derive(Debug, Clone)]
pub struct Policy {
    versions: Vec<&'static SupportedProtocolVersion>,
    provider: Arc<CryptoProvider>,
}

impl Policy {
    /// Builds the policy. `ciphers_explicit` is false when `--tlsciphers` was left at its
    /// default: then the ECDSA twin of the default suite is offered too, so that an ECDSA
    /// serving certificate (ours by default) still works for TLS 1.2 clients.
    /// Returns warnings to log alongside the policy.
    pub fn new(
        min: &str,
        max: &str,
        ciphers: &str,
        ciphers_explicit: bool,
    ) -> Result<(Self, Vec<String>), Error> {
        let mut warnings = Vec::new();
        let mut min = Version::parse(min, "--tlsminversion")?;
        let max = Version::parse(max, "--tlsmaxversion")?;
        if max < Version::V12 {
            return Err(Error::Settings(format!(
                "--tlsmaxversion {max:?}: TLS 1.0 and 1.1 are not supported; use 1.2 or 1.3"
            )));
        }
        if min < Version::V12 {
            warnings.push(
                "TLS 1.0 and 1.1 are not supported; the minimum version is raised to 1.2"
                    .to_string(),
            );
            min = Version::V12;
        }
        if min > max {
            return Err(Error::Settings(
                "--tlsminversion is greater than --tlsmaxversion".to_string(),
            ));
        }
        let mut tls12 = Vec::new();
        for name in ciphers.split(':').map(str::trim).filter(|n| !n.is_empty()) {
            if let Some((_, suite)) = SUPPORTED_SUITES.iter().find(|(n, _)| *n == name) {
                if !tls12.contains(suite) {
                    tls12.push(*suite);
                }
            } else if !TLS13_NAMES.contains(&name) {
                let supported: Vec<_> = SUPPORTED_SUITES.iter().map(|(n, _)| *n).collect();
                return Err(Error::Settings(format!(
                    "--tlsciphers: cipher suite {name} is not supported (only ECDHE with AES-GCM or ChaCha20-Poly1305 is offered); supported: {}",
                    supported.join(":")
                )));
            }
        }
        if !ciphers_explicit {
            tls12.push(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
        }
        if min == Version::V13 && ciphers_explicit {
            warnings
                .push("--tlsciphers is ignored because the minimum TLS version is 1.3".to_string());
        }
        if min <= Version::V12 && tls12.is_empty() {
            return Err(Error::Settings(
                "--tlsciphers lists no TLS 1.2 cipher suite; add one or set --tlsminversion 1.3"
                    .to_string(),
            ));
        }
        let mut versions = Vec::new();
        if min <= Version::V12 {
            versions.push(&rustls::version::TLS12);
        }
        if max == Version::V13 {
            versions.push(&rustls::version::TLS13);
        }
        let base = provider();
        let suites = base
            .cipher_suites
            .iter()
            .filter(|s| match s {
                SupportedCipherSuite::Tls13(_) => max == Version::V13,
                SupportedCipherSuite::Tls12(_) => min <= Version::V12 && tls12.contains(s),
            })
            .copied()
            .collect();
        let provider = Arc::new(CryptoProvider {
            cipher_suites: suites,
            ..(*base).clone()
        });
        Ok((Self { versions, provider }, warnings))
    }

    /// Upstream's defaults: TLS 1.2 to 1.3 with the default suite.
    pub fn default_policy() -> Self {
        Self::new("1.2", "1.3", DEFAULT_CIPHERS, false)
            .expect("default TLS policy is valid")
            .0
    }

    pub fn versions(&self) -> &[&'static SupportedProtocolVersion] {
        &self.versions
    }

    pub fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }
}

/// The text `--tlsciphers list` prints.
pub fn list() -> String {
    SUPPORTED_SUITES
        .iter()
        .map(|(n, _)| format!("{n}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls12_count(p: &Policy) -> usize {
        p.provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .count()
    }

    #[test]
    fn default_offers_rsa_and_ecdsa_twins() {
        let p = Policy::default_policy();
        assert_eq!(p.versions().len(), 2);
        assert_eq!(tls12_count(&p), 2);
    }

    #[test]
    fn explicit_list_is_exact() {
        let (p, w) = Policy::new(
            "1.2",
            "1.3",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:TLS_AES_128_GCM_SHA256",
            true,
        )
        .unwrap();
        assert!(w.is_empty());
        assert_eq!(tls12_count(&p), 1);
    }

    #[test]
    fn rejects_unsupported_suites_by_name() {
        let err = Policy::new("1.2", "1.3", "TLS_RSA_WITH_AES_128_CBC_SHA", true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TLS_RSA_WITH_AES_128_CBC_SHA is not supported"),
            "{err}"
        );
        assert!(
            err.contains("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            "{err}"
        );
    }

    #[test]
    fn versions() {
        let (p, w) = Policy::new("1.0", "1.3", DEFAULT_CIPHERS, false).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(p.versions().len(), 2);
        let (p, w) = Policy::new("1.3", "1.3", DEFAULT_CIPHERS, true).unwrap();
        assert_eq!(p.versions().len(), 1);
        assert_eq!(tls12_count(&p), 0);
        assert_eq!(w.len(), 1);
        assert!(Policy::new("1.2", "1.1", DEFAULT_CIPHERS, false).is_err());
        assert!(Policy::new("1.3", "1.2", DEFAULT_CIPHERS, false).is_err());
        assert!(Policy::new("1.4", "1.3", DEFAULT_CIPHERS, false)
            .unwrap_err()
            .to_string()
            .contains("--tlsminversion"));
    }
}
