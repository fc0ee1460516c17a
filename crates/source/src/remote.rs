//! Repository URLs: which transport they select, the credential-free form given to git and
//! shown in messages, and the normalized form that keys the caches.

use crate::{Arg, Invalid};

/// The transports a repository URL may select; anything else (`ext::`, `fd::`, unknown
/// schemes) is refused. Whether `file` is allowed is the git engine's setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Http,
    Https,
    Ssh,
    Git,
    File,
    /// An OCI registry (`oci://host[:port]/path`): Helm charts and artifacts, never git.
    Oci,
}

/// A validated repository URL, parsed once per request. `Debug` leaves out the userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    pub transport: Transport,
    /// What git receives and messages show: no password, and no username for http(s), whose
    /// "username" is often a token.
    pub url: String,
    /// [`normalize`]d URL: the cache key of the repository.
    pub key: String,
    /// Userinfo of an http(s) URL, used when the repository has no credentials of its own, so
    /// that it reaches git through the askpass helper instead of argv.
    pub userinfo: Option<(String, String)>,
}

fn invalid(url: &str, reason: impl Into<String>) -> Invalid {
    Invalid::Url {
        url: url.to_string(),
        reason: reason.into(),
    }
}

impl Remote {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let parts = split(raw).map_err(|reason| invalid(&display(raw), reason))?;
        let url = parts.render();
        let transport = match parts.scheme.as_str() {
            "http" => Transport::Http,
            "https" => Transport::Https,
            "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
            "git" => Transport::Git,
            "file" => Transport::File,
            "oci" => Transport::Oci,
            other => return Err(invalid(&url, format!("unsupported URL scheme {other:?}"))),
        };
        if transport != Transport::File && parts.host.is_empty() {
            return Err(invalid(&url, "repository URL has no host"));
        }
        let userinfo = match (transport, parts.user) {
            (Transport::Http | Transport::Https, Some(user)) => {
                Some((decode(user), parts.password.map(decode).unwrap_or_default()))
            }
            _ => None,
        };
        Ok(Self {
            transport,
            key: parts.key(),
            url,
            userinfo,
        })
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("transport", &self.transport)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Normalizes a repository URL for use as a cache key, like upstream's `NormalizeGitURL`:
/// scp-like `user@host:path` becomes `ssh://host/path`; scheme and host are lowercased; userinfo,
/// trailing slashes and a `.git` suffix are dropped. The path keeps its case. Unparseable input
/// is returned trimmed.
pub fn normalize(url: &str) -> String {
    let url = url.trim();
    split(url)
        .map(|p| p.key())
        .unwrap_or_else(|_| url.to_string())
}

/// A URL fit for messages and logs: userinfo removed, whether or not the URL is valid.
pub fn display(url: &str) -> String {
    let url = url.trim();
    split(url)
        .map(|p| p.render())
        .unwrap_or_else(|_| userinfo(url))
}

/// `text` with the `user:password@` part of every `scheme://` URL removed.
pub fn userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // `'` may be part of a password (RFC 3986 sub-delims), so it does not end the authority.
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '"' | '<' | '>'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        out.push_str(
            authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host),
        );
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `scheme://authority/path`
    Url,
    /// `[user@]host:path`, git's scp-like ssh syntax.
    Scp,
    /// A local path.
    Path,
}

struct Parts<'a> {
    form: Form,
    scheme: String,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: &'a str,
    path: &'a str,
}

fn split(url: &str) -> Result<Parts<'_>, String> {
    if url.is_empty() {
        return Err("empty repository URL".into());
    }
    // The reason must not repeat the URL: the caller names it without its userinfo.
    Arg::new("repository URL", url).map_err(|_| "must not start with '-'".to_string())?;
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("repository URL contains whitespace or control characters".into());
    }
    // `<transport>::<address>` runs a remote helper, `ext::` an arbitrary command.
    if let Some((helper, _)) = url.split_once("::") {
        if is_scheme(helper) {
            return Err(format!("transport {helper}:: is not allowed"));
        }
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        if !is_scheme(scheme) {
            return Err("malformed URL scheme".into());
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        let (user, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
            Some((user, password)) => (Some(user), Some(password).filter(|p| !p.is_empty())),
            None => (None, None),
        };
        return Ok(Parts {
            form: Form::Url,
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host,
            path,
        });
    }
    // Like git: a colon before any slash makes it scp-like ssh.
    if let Some(colon) = url.find(':').filter(|&i| !url[..i].contains('/')) {
        let (head, path) = (&url[..colon], &url[colon + 1..]);
        let (user, host) = match head.rsplit_once('@') {
            Some((user, host)) => (Some(user.split(':').next().unwrap_or(user)), host),
            None => (None, head),
        };
        return Ok(Parts {
            form: Form::Scp,
            scheme: "ssh".into(),
            user,
            password: None,
            host,
            path,
        });
    }
    Ok(Parts {
        form: Form::Path,
        scheme: "file".into(),
        user: None,
        password: None,
        host: "",
        path: url,
    })
}

impl Parts<'_> {
    /// Only ssh keeps its username: it selects the account, it is not a secret.
    fn render(&self) -> String {
        let user = match (self.scheme.as_str(), self.user) {
            ("ssh" | "git+ssh" | "ssh+git", Some(user)) => format!("{user}@"),
            _ => String::new(),
        };
        match self.form {
            Form::Url => format!("{}://{user}{}{}", self.scheme, self.host, self.path),
            Form::Scp => format!("{user}{}:{}", self.host, self.path),
            Form::Path => self.path.to_string(),
        }
    }

    fn key(&self) -> String {
        let mut path = self.path.trim_end_matches('/');
        path = path
            .strip_suffix(".git")
            .unwrap_or(path)
            .trim_end_matches('/');
        // `host:` has no path; a `/` there would make the key differ from its own key.
        let slash = if self.form == Form::Scp && !path.is_empty() && !path.starts_with('/') {
            "/"
        } else {
            ""
        };
        let scheme = match self.scheme.as_str() {
            "git+ssh" | "ssh+git" => "ssh",
            other => other,
        };
        format!("{scheme}://{}{slash}{path}", self.host.to_ascii_lowercase())
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Percent-decoding of URL userinfo; invalid escapes are kept as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_upstream() {
        for (raw, key) in [
            (
                "https://User:Secret@GitHub.com/Org/Repo.git/",
                "https://github.com/Org/Repo",
            ),
            ("https://github.com/Org/Repo", "https://github.com/Org/Repo"),
            ("git@GitHub.com:Org/Repo.git", "ssh://github.com/Org/Repo"),
            ("ssh://git@github.com/Org/Repo", "ssh://github.com/Org/Repo"),
            (
                "git+ssh://git@github.com/Org/Repo",
                "ssh://github.com/Org/Repo",
            ),
            ("ssh://git@host:2222/x.git", "ssh://host:2222/x"),
            ("file:///srv/repo.git", "file:///srv/repo"),
            ("  git://Host/r  ", "git://host/r"),
        ] {
            assert_eq!(normalize(raw), key, "{raw}");
        }
    }

    #[test]
    fn strips_credentials_from_what_git_sees() {
        let r = Remote::parse("https://tok%40en:p%3Ass@host/r.git").unwrap();
        assert_eq!(r.url, "https://host/r.git");
        assert_eq!(r.transport, Transport::Https);
        assert_eq!(r.userinfo, Some(("tok@en".to_string(), "p:ss".to_string())));
        let r = Remote::parse("ssh://git:pw@host/r.git").unwrap();
        assert_eq!(r.url, "ssh://git@host/r.git");
        assert_eq!(r.userinfo, None);
        let r = Remote::parse("git@host:org/r.git").unwrap();
        assert_eq!(
            (r.url.as_str(), r.transport),
            ("git@host:org/r.git", Transport::Ssh)
        );
    }

    #[test]
    fn refuses_dangerous_transports() {
        for raw in [
            "ext::sh -c touch% /tmp/pwned",
            "ext::ssh",
            "fd::3",
            "foo://host/r",
            "-uhttps://host/r",
            "https://host/r\nx",
            "",
            "https:///r",
        ] {
            let err = Remote::parse(raw).unwrap_err();
            assert!(matches!(err, Invalid::Url { .. }), "{raw}: {err}");
        }
        assert_eq!(
            Remote::parse("file:///srv/r").unwrap().transport,
            Transport::File
        );
        assert_eq!(Remote::parse("/srv/r").unwrap().transport, Transport::File);
    }

    #[test]
    fn display_never_shows_passwords() {
        assert_eq!(display("https://u:p@h/r"), "https://h/r");
        assert_eq!(display("foo://u:p@h/r"), "foo://h/r");
        assert_eq!(display("ext::x"), "ext::x");
        assert_eq!(
            display("https://bob:pw@git.example/a/b.git"),
            "https://git.example/a/b.git"
        );
        assert!(!display("ssh://git:pw@host:22/r").contains("pw"));
    }
}
