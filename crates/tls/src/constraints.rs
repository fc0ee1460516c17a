//! Name constraints applied to every name the authorization policy reads (CN, DNS SANs, URI
//! SANs). webpki holds SANs to a CA's constraints (RFC 5280) but never looks at the subject CN,
//! and lets a URI SAN through a CA limited to DNS names; the policy takes all three as an
//! identity. So when any CA of the chain carries name constraints, each of these names must lie
//! inside that CA's DNS subtrees: the CN and DNS SANs as DNS names (as Go once held a
//! CN-as-hostname), a URI SAN by its host. A CA whose permitted subtrees list no DNS name
//! permits none of them. A chain without name constraints is not affected.

use rustls_pki_types::DnsName;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

/// The DNS subtrees of one CA's nameConstraints extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The CA's subject, to name it in a refusal.
    pub ca: String,
    /// `None` when the extension lists no permitted subtree: any name not excluded.
    permitted: Option<Vec<String>>,
    excluded: Vec<String>,
}

/// The extension is present but cannot be read.
#[derive(Debug)]
pub(crate) struct Malformed;

fn dns_bases<'a>(subtrees: impl Iterator<Item = &'a GeneralName<'a>>) -> Vec<String> {
    subtrees
        .filter_map(|name| match name {
            GeneralName::DNSName(base) => Some(base.trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

impl Limits {
    /// The limits `cert` (a CA) puts on the names below it; `None` without the extension.
    pub(crate) fn of(cert: &X509Certificate<'_>) -> Result<Option<Self>, Malformed> {
        let Some(ext) = cert.name_constraints().map_err(|_| Malformed)? else {
            return Ok(None);
        };
        let nc = ext.value;
        Ok(Some(Self {
            ca: cert.subject().to_string(),
            permitted: nc
                .permitted_subtrees
                .as_ref()
                .filter(|subtrees| !subtrees.is_empty())
                .map(|subtrees| dns_bases(subtrees.iter().map(|s| &s.base))),
            excluded: dns_bases(nc.excluded_subtrees.iter().flatten().map(|s| &s.base)),
        }))
    }

    fn allows(&self, name: &str) -> bool {
        // Held to DNS rules, a name must be a DNS name.
        if DnsName::try_from(name).is_err() {
            return false;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let permitted = self
            .permitted
            .as_ref()
            .is_none_or(|bases| bases.iter().any(|base| within(&name, base)));
        permitted && !self.excluded.iter().any(|base| within(&name, base))
    }
}

/// RFC 5280 DNS subtree matching: `tenant-a.example` covers itself and its subdomains,
/// `.tenant-a.example` only its subdomains, an empty base every name.
fn within(name: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    if base.starts_with('.') {
        return name.ends_with(base);
    }
    name == base
        || name
            .strip_suffix(base)
            .is_some_and(|head| head.ends_with('.'))
}

/// The host of a URI with an authority (`scheme://[user@]host[:port]/...`); `None` for URIs
/// without one (URNs) and IP literals, which no DNS subtree can vouch for.
fn uri_host(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        return None;
    }
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    (!host.is_empty()).then_some(host)
}

/// A name of the leaf that a CA's constraints do not allow.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outside {
    pub name: String,
    pub ca: String,
}

/// Checks every name the policy can read from `leaf` against every CA's `limits`.
pub(crate) fn check<'a>(
    leaf: &X509Certificate<'_>,
    limits: impl IntoIterator<Item = &'a Limits>,
) -> Result<(), Outside> {
    let limits: Vec<&Limits> = limits.into_iter().collect();
    if limits.is_empty() {
        return Ok(());
    }
    let mut names: Vec<(String, Option<&str>)> = Vec::new();
    for cn in leaf.subject().iter_common_name() {
        if let Ok(cn) = cn.as_str() {
            names.push((cn.to_string(), Some(cn)));
        }
    }
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => names.push((d.to_string(), Some(d))),
                GeneralName::URI(u) => names.push((u.to_string(), uri_host(u))),
                _ => {}
            }
        }
    }
    for (shown, dns) in names {
        for limit in &limits {
            if !dns.is_some_and(|d| limit.allows(d)) {
                return Err(Outside {
                    name: shown,
                    ca: limit.ca.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(permitted: Option<&[&str]>, excluded: &[&str]) -> Limits {
        Limits {
            ca: "CN=ca".into(),
            permitted: permitted.map(|p| p.iter().map(|s| s.to_string()).collect()),
            excluded: excluded.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn dns_subtrees() {
        let tenant = limits(Some(&["tenant-a.example"]), &[]);
        assert!(tenant.allows("tenant-a.example"));
        assert!(tenant.allows("App.Tenant-A.example."));
        assert!(!tenant.allows("argocd-server"));
        assert!(!tenant.allows("eviltenant-a.example"));
        assert!(!tenant.allows("argocd server"), "not a DNS name");
        let subdomains = limits(Some(&[".tenant-a.example"]), &[]);
        assert!(subdomains.allows("x.tenant-a.example"));
        assert!(!subdomains.allows("tenant-a.example"));
        let no_dns = limits(Some(&[]), &[]);
        assert!(
            !no_dns.allows("anything.example"),
            "permitted list without DNS"
        );
        let excluded = limits(None, &["argocd.svc"]);
        assert!(excluded.allows("tenant-a.example"));
        assert!(!excluded.allows("argocd-server.argocd.svc"));
    }

    #[test]
    fn uri_hosts() {
        assert_eq!(
            uri_host("spiffe://cluster.local/ns/argocd/sa/x"),
            Some("cluster.local")
        );
        assert_eq!(
            uri_host("https://u@tenant-a.example:8443/p?q"),
            Some("tenant-a.example")
        );
        assert_eq!(uri_host("urn:uuid:1234"), None);
        assert_eq!(uri_host("https://[::1]/"), None);
        assert_eq!(uri_host("file:///etc/passwd"), None);
    }
}
