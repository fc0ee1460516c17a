//! What can be wrong with a certificate for this link, and the role its file gives it (leaf or
//! CA). Which warnings apply to one certificate is judged where it is described, in `summary`.

use std::fmt;
use std::path::Path;

use time::Duration;

use crate::dates::day_count;

/// Certificates expiring sooner than this are flagged.
pub const SOON: Duration = Duration::days(30);

/// How a certificate is used, as far as its file name and position tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// First certificate of `client.crt`, `*-client.crt`, `tls.crt` or `server.crt`.
    Leaf,
    /// Any certificate of a `*ca.crt` file, or a chain certificate after a leaf.
    Ca,
    Unknown,
}

impl Role {
    pub fn of(path: &Path, index: usize) -> Self {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let leaf_file = name.ends_with("client.crt") || name == "tls.crt" || name == "server.crt";
        match (leaf_file, index) {
            (true, 0) => Role::Leaf,
            (true, _) => Role::Ca,
            _ if name.ends_with("ca.crt") => Role::Ca,
            _ => Role::Unknown,
        }
    }
}

/// Something about a certificate an operator should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    Expired {
        days: i64,
    },
    NotYetValid {
        days: i64,
    },
    ExpiresSoon {
        days: i64,
    },
    /// X.509 v1 (or v2): no extensions at all.
    Version(u32),
    NoSan,
    CaAsLeaf,
    NotACa(&'static str),
    NoTlsPurpose,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Expired { days } => write!(f, "expired {} ago; issue a new certificate", day_count(*days)),
            Warning::NotYetValid { days } => write!(
                f,
                "not valid yet (starts in {}); check the clock of the machine that issued it",
                day_count(*days)
            ),
            Warning::ExpiresSoon { days } => write!(f, "expires in {}; rotate it soon", day_count(*days)),
            Warning::Version(v) => write!(
                f,
                "X.509 v{v}: only a subject name, no SAN or EKU, so it cannot be verified by hostname; \
                 reissue with `repoctl certs init` or an openssl extension file"
            ),
            Warning::NoSan => f.write_str(
                "no subjectAltName: clients cannot verify it by hostname; add the names clients dial \
                 (e.g. DNS:argocd-repo-server)",
            ),
            Warning::CaAsLeaf => f.write_str(
                "CA certificate (CA:TRUE) used as a leaf: the repo-server refuses it as a client; \
                 issue a CA:FALSE certificate",
            ),
            Warning::NotACa(why) => write!(f, "cannot act as a CA: {why}"),
            Warning::NoTlsPurpose => f.write_str(
                "extendedKeyUsage allows neither serverAuth nor clientAuth, so neither end of the link accepts it; \
                 reissue with the purpose it is used for",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_file_names() {
        let role = |name: &str, i| Role::of(Path::new(name), i);
        for leaf in [
            "client.crt",
            "/m/server-client.crt",
            "tls.crt",
            "server.crt",
        ] {
            assert_eq!(role(leaf, 0), Role::Leaf, "{leaf}");
            assert_eq!(role(leaf, 1), Role::Ca, "{leaf}");
        }
        for ca in ["ca.crt", "client-ca.crt", "/m/server-ca.crt"] {
            assert_eq!(role(ca, 0), Role::Ca, "{ca}");
        }
        assert_eq!(role("cert.pem", 0), Role::Unknown);
    }
}
