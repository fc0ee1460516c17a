//! Which proxy, if any, git uses for a repository over http(s): the repository's own `proxy`
//! with its `noProxy`, else the pod's `HTTPS_PROXY`/`HTTP_PROXY` with `NO_PROXY` (given in the
//! settings, never read from this process's environment). `noProxy` follows Go's `httpproxy`
//! as upstream does: `*`, host names matching themselves and their subdomains (`.x` and `*.x`
//! only subdomains), IP addresses and CIDR ranges, each optionally with a port; localhost and
//! loopback addresses are never proxied.

use std::net::IpAddr;

use repo_source::{Creds, Proxies, Remote, Transport};

/// The proxy chosen for one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chosen {
    /// The URL given to git (`http://` added when it has no scheme, as Go does); may hold
    /// credentials.
    pub(crate) url: String,
    /// Where it came from, for messages: the repository's `proxy` or a pod variable.
    pub(crate) from: &'static str,
}

impl Chosen {
    /// The proxy's `user:password`, if any: a secret to mask.
    pub(crate) fn userinfo(&self) -> Option<&str> {
        let authority = self.url.split_once("://")?.1.split('/').next()?;
        authority.rsplit_once('@').map(|(userinfo, _)| userinfo)
    }
}

/// The proxy for `remote`, `None` to connect directly; an error names a proxy URL git could
/// not use.
pub(crate) fn choose(
    remote: &Remote,
    creds: &Creds,
    pod: &Proxies,
) -> Result<Option<Chosen>, String> {
    let (proxy, no, from) = match remote.transport {
        _ if !creds.proxy.is_empty() => (&creds.proxy, &creds.no_proxy, "the repository's proxy"),
        Transport::Https => (&pod.https, &pod.no, "HTTPS_PROXY"),
        Transport::Http => (&pod.http, &pod.no, "HTTP_PROXY"),
        _ => return Ok(None),
    };
    if proxy.is_empty() || !matches!(remote.transport, Transport::Http | Transport::Https) {
        return Ok(None);
    }
    let Some((host, port)) = endpoint(&remote.key, remote.transport) else {
        return Ok(None);
    };
    if !proxied(&host, port, no) {
        return Ok(None);
    }
    let url = match proxy.split_once("://") {
        Some((scheme, _)) => {
            let scheme = scheme.to_ascii_lowercase();
            if !matches!(scheme.as_str(), "http" | "https" | "socks5" | "socks5h") {
                return Err(format!(
                    "{from} {} is not an http, https or socks5 proxy URL",
                    repo_source::display(proxy)
                ));
            }
            proxy.clone()
        }
        None => format!("http://{proxy}"),
    };
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("{from} contains whitespace or control characters"));
    }
    Ok(Some(Chosen { url, from }))
}

/// Host (lowercase, IPv6 without brackets) and port of a normalized http(s) URL.
fn endpoint(key: &str, transport: Transport) -> Option<(String, u16)> {
    let authority = key.split_once("://")?.1.split(['/', '?', '#']).next()?;
    let default = if transport == Transport::Https {
        443
    } else {
        80
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) if !p.is_empty() => p.parse().ok()?,
        _ => default,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The host of an http(s) remote, as the CA file of `argocd-tls-certs-cm` is named.
pub(crate) fn host(remote: &Remote) -> Option<String> {
    let (host, _) = endpoint(&remote.key, remote.transport)?;
    (!host.is_empty() && host != "." && host != "..").then_some(host)
}

/// Go's `httpproxy.useProxy`.
fn proxied(host: &str, port: u16, no: &str) -> bool {
    let ip = host.parse::<IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    let port = port.to_string();
    for entry in no.split(',').map(|e| e.trim().to_ascii_lowercase()) {
        if entry.is_empty() {
            continue;
        }
        if entry == "*" {
            return false;
        }
        if let Some((net, bits)) = cidr(&entry) {
            if ip.is_some_and(|ip| within(ip, net, bits)) {
                return false;
            }
            continue;
        }
        let (name, want_port) = split_port(&entry);
        if name.is_empty() {
            continue;
        }
        if let Ok(listed) = name.parse::<IpAddr>() {
            if ip == Some(listed) && want_port.is_none_or(|p| p == port) {
                return false;
            }
            continue;
        }
        let name = name.strip_prefix('*').unwrap_or(name);
        let (suffix, itself) = match name.strip_prefix('.') {
            Some(_) => (name.to_string(), false),
            None => (format!(".{name}"), true),
        };
        let matched = host.ends_with(&suffix) || (itself && host == &suffix[1..]);
        if matched && want_port.is_none_or(|p| p == port) {
            return false;
        }
    }
    true
}

/// `host:port` or `[v6]:port` as Go's `net.SplitHostPort` takes it; else the whole entry.
fn split_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(v6) = entry.strip_prefix('[') {
        if let Some((host, port)) = v6.split_once("]:") {
            return (host, Some(port));
        }
    }
    match entry.rsplit_once(':') {
        // More than one colon without brackets is a bare IPv6 address.
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (entry, None),
    }
}

fn cidr(entry: &str) -> Option<(IpAddr, u32)> {
    let (net, bits) = entry.split_once('/')?;
    let net: IpAddr = net.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((net, bits))
}

fn within(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - bits;
    shift >= width || (ip >> shift) == (net >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_follows_go() {
        let cases = [
            // (host, port, NO_PROXY, proxied)
            ("git.example", 443, "", true),
            ("git.example", 443, "*", false),
            ("git.example", 443, "example", false),
            ("git.example", 443, "xample", true),
            ("git.example", 443, "git.example", false),
            ("sub.git.example", 443, "git.example", false),
            ("git.example", 443, ".git.example", true),
            ("sub.git.example", 443, ".git.example", false),
            ("git.example", 443, "*.git.example", true),
            ("a.git.example", 443, "*.git.example", false),
            ("notgit.example", 443, "git.example", true),
            ("git.example", 443, "git.example:443", false),
            ("git.example", 8443, "git.example:443", true),
            ("git.example", 443, " other , GIT.example ", false),
            ("10.1.2.3", 443, "10.0.0.0/8", false),
            ("11.1.2.3", 443, "10.0.0.0/8", true),
            ("10.1.2.3", 443, "10.1.2.3", false),
            ("10.1.2.3", 443, "10.1.2.3:80", true),
            ("10.1.2.3", 80, "10.1.2.3:80", false),
            ("fd00::1", 443, "fd00::/8", false),
            ("fd00::1", 443, "[fd00::1]:443", false),
            ("fd00::1", 443, "fd00::1", false),
            ("fe80::1", 443, "fd00::/8", true),
            ("localhost", 443, "", false),
            ("127.0.0.1", 443, "", false),
            ("::1", 443, "", false),
            ("0.0.0.0", 443, "0.0.0.0/0", false),
            ("git.example", 443, ":443", true),
        ];
        for (host, port, no, want) in cases {
            assert_eq!(
                proxied(host, port, no),
                want,
                "{host}:{port} NO_PROXY={no:?}"
            );
        }
    }

    fn remote(url: &str) -> Remote {
        Remote::parse(url).unwrap()
    }

    #[test]
    fn the_repository_proxy_wins_and_the_pod_proxy_goes_by_scheme() {
        let pod = Proxies {
            https: "https-proxy:3128".into(),
            http: "http://http-proxy:3128".into(),
            no: "direct.example".into(),
        };
        let pick = |url: &str, creds: &Creds| {
            choose(&remote(url), creds, &pod)
                .unwrap()
                .map(|c| (c.url, c.from))
        };
        let none = Creds::default();
        assert_eq!(
            pick("https://Git.Example/r", &none),
            Some(("http://https-proxy:3128".into(), "HTTPS_PROXY"))
        );
        assert_eq!(
            pick("http://git.example:8080/r", &none),
            Some(("http://http-proxy:3128".into(), "HTTP_PROXY"))
        );
        assert_eq!(pick("https://direct.example/r", &none), None);
        assert_eq!(pick("ssh://git@git.example/r", &none), None);
        let own = Creds {
            proxy: "socks5://u:p@own:1080".into(),
            no_proxy: "other.example".into(),
            ..Creds::default()
        };
        // The pod's NO_PROXY does not apply to the repository's own proxy.
        let chosen = choose(&remote("https://direct.example/r"), &own, &pod)
            .unwrap()
            .unwrap();
        assert_eq!(chosen.url, "socks5://u:p@own:1080");
        assert_eq!(chosen.userinfo(), Some("u:p"));
        assert_eq!(pick("https://other.example/r", &own), None);
        let bad = Creds {
            proxy: "ftp://u:secret@p".into(),
            ..Creds::default()
        };
        let err = choose(&remote("https://h/r"), &bad, &pod).unwrap_err();
        assert!(err.contains("ftp://p") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn hosts_as_ca_files_are_named() {
        assert_eq!(
            host(&remote("https://Git.Example:8443/r")).as_deref(),
            Some("git.example")
        );
        assert_eq!(
            host(&remote("https://[::1]:8443/r")).as_deref(),
            Some("::1")
        );
        assert_eq!(host(&remote("https://u:p@h/r")).as_deref(), Some("h"));
        assert_eq!(host(&remote("ssh://h/r")).as_deref(), Some("h"));
    }
}
