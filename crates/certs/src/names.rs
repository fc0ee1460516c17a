//! Names that end up in certificates and manifests, checked before anything is generated.

use std::net::IpAddr;

use rcgen::string::Ia5String;
use rcgen::SanType;
use rustls_pki_types::DnsName;

use crate::Error;

/// A namespace must be an RFC 1123 label; it is also written unquoted into the YAML.
pub(crate) fn namespace(ns: &str) -> Result<(), Error> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Namespace(ns.to_string()))
    }
}

/// An extra `--dns-name`: an IP address becomes an IP SAN, anything else must be a DNS name
/// (a leading `*.` wildcard label is allowed).
pub(crate) fn san(name: &str) -> Result<SanType, Error> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let base = name.strip_prefix("*.").unwrap_or(name);
    DnsName::try_from(base).map_err(|_| Error::Name(name.to_string()))?;
    Ia5String::try_from(name)
        .map(SanType::DnsName)
        .map_err(|_| Error::Name(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        for ok in ["argocd", "a", "team-1"] {
            namespace(ok).unwrap();
        }
        for bad in [
            "",
            "Argo",
            "-a",
            "a-",
            "a.b",
            "a b",
            "x\ny",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(namespace(bad), Err(Error::Namespace(ref n)) if n == bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sans() {
        assert!(matches!(san("10.0.0.1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(san("::1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(
            san("repo.example.com").unwrap(),
            SanType::DnsName(_)
        ));
        assert!(matches!(san("*.example.com").unwrap(), SanType::DnsName(_)));
        for bad in ["", "a b", "-x.example", "*", "a..b"] {
            assert!(
                matches!(san(bad), Err(Error::Name(ref n)) if n == bad),
                "{bad:?}"
            );
        }
    }
}
