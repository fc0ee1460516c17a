//! OCI names checked before they reach a URL. `host[:port]/path` is split as upstream's oras
//! splits it: the first component is always the registry (never Docker Hub's implicit
//! `docker.io/library/`), so a name cannot silently point at another registry, and a tag or
//! digest cannot add path segments (`../`) or a query to a request.

use crate::Error;

/// A registry and a repository inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Name {
    /// `host[:port]`.
    pub(super) registry: String,
    /// `a/b/c`, lowercase, as the distribution spec allows.
    pub(super) repository: String,
}

impl Name {
    pub(super) fn parse(name: &str) -> Result<Self, Error> {
        let invalid =
            |why: &str| Error::Invalid(format!("OCI repository {}: {why}", without_userinfo(name)));
        if name.contains("://") {
            return Err(invalid("write it without a scheme (host[:port]/path)"));
        }
        let Some((registry, repository)) = name.split_once('/') else {
            return Err(invalid("expected host[:port]/path"));
        };
        if !registry_ok(registry) {
            return Err(invalid("the registry is not a host[:port]"));
        }
        if repository.len() > 255 || !repository.split('/').all(component_ok) {
            return Err(invalid(
                "the path must be lowercase components of a-z, 0-9 and . _ - separators",
            ));
        }
        Ok(Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
        })
    }

    /// The name of the registry's CA file in `ARGOCD_TLS_DATA_PATH`: the host without port, an
    /// IPv6 address without brackets (as upstream's GetCertBundlePathForRepository).
    pub(super) fn ca_file(&self) -> &str {
        let registry = self.registry.as_str();
        match registry.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => registry.split(':').next().unwrap_or(registry),
        }
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// `name` for messages and metrics: anything up to an `@` in the registry part may be
/// credentials.
pub(super) fn without_userinfo(name: &str) -> &str {
    let registry_end = name.find('/').unwrap_or(name.len());
    match name[..registry_end].rfind('@') {
        Some(at) => &name[at + 1..],
        None => name,
    }
}

/// A tag as the distribution spec allows: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(super) fn tag_ok(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `sha256:` and 64 lowercase hex digits: the only digests the store keeps.
pub(super) fn digest_ok(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn registry_ok(registry: &str) -> bool {
    registry
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'[')
        && registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn component_ok(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    bytes
        .split(|&b| alnum(b))
        .filter(|run| !run.is_empty())
        .all(|run| matches!(run, b"." | b"_" | b"__") || run.iter().all(|&b| b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = Name::parse("127.0.0.1:5000/charts/my-chart").unwrap();
        assert_eq!(n.registry, "127.0.0.1:5000");
        assert_eq!(n.repository, "charts/my-chart");
        assert_eq!(n.ca_file(), "127.0.0.1");
        assert_eq!(Name::parse("[::1]:5000/a").unwrap().ca_file(), "::1");
        assert_eq!(
            Name::parse("ghcr.io/org/a__b.c-d").unwrap().ca_file(),
            "ghcr.io"
        );
        for bad in [
            "oci://ghcr.io/a",
            "ghcr.io",
            "ghcr.io/",
            "ghcr.io/A",
            "ghcr.io/a/../b",
            "ghcr.io/a//b",
            "ghcr.io/a?x=1",
            "ghcr.io/a._b",
            "ghcr.io/-a",
            "user:pw@ghcr.io/a",
            "../x/a",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
        let e = Name::parse("user:secret@Registry/a")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn tags_and_digests() {
        assert!(tag_ok("1.2.3_build.1"));
        assert!(tag_ok("latest"));
        for bad in [
            "",
            ".x",
            "-x",
            "a/b",
            "../a",
            "a?b",
            "1.0.0+x",
            &"a".repeat(129),
        ] {
            assert!(!tag_ok(bad), "{bad}");
        }
        assert!(digest_ok(&format!("sha256:{}", "a".repeat(64))));
        assert!(!digest_ok(&format!("sha256:{}", "A".repeat(64))));
        assert!(!digest_ok(&format!("sha512:{}", "a".repeat(128))));
        assert!(!digest_ok("sha256:abc"));
    }
}
