//! HTTP clients per repository host: credentials, CAs, client certificates, proxies. A client
//! is built once per (origin, TLS/proxy settings, CA file version) and reused, so connections
//! are pooled; the CA file of `ARGOCD_TLS_DATA_PATH/<host>` is re-read when it changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use parking_lot::Mutex;
use repo_source::Repo;
use reqwest::{Client, Response, StatusCode, Url};
use rustls::client::ResolvesClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::{Error, Event, Observer, Settings};

/// Clients kept; the least recently used beyond this is dropped (with its idle connections).
const CLIENTS: usize = 64;
const REDIRECTS: usize = 10;

pub(crate) struct Access {
    tls_data_path: PathBuf,
    timeout: std::time::Duration,
    proxies: crate::Proxies,
    user_agent: Arc<str>,
    observer: Option<Observer>,
    clients: Mutex<Clients>,
}

/// Built clients with the tick of their last use.
#[derive(Default)]
struct Clients {
    built: Vec<(Key, Client, u64)>,
    tick: u64,
}

/// What a client is built from; two requests with the same key share one client.
#[derive(Clone, PartialEq, Eq)]
struct Key {
    /// `scheme://host:port`.
    origin: String,
    /// Hash of the TLS and proxy settings (never the settings themselves).
    settings: [u8; 32],
    /// Modification time and length of the host's CA file, `None` when there is none.
    ca: Option<(SystemTime, u64)>,
}

/// Whether a request carries the repository's credentials (Basic or bearer, and the TLS client
/// certificate), or goes to another origin without them (upstream's `passCredentials` rule).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Creds {
    Send,
    Withhold,
}

/// SHA-256 of every credential and setting of `repo`, hex: keys caches without holding them.
pub(crate) fn identity(repo: &Repo) -> String {
    let c = &repo.creds;
    let (user, pass) = repo.remote.userinfo.clone().unwrap_or_default();
    let mut h = Sha256::new();
    for part in [
        c.username.as_str(),
        &c.password,
        &c.bearer_token,
        &c.tls_client_cert_data,
        &c.tls_client_cert_key,
        &c.proxy,
        &c.no_proxy,
        &user,
        &pass,
        if c.insecure { "1" } else { "0" },
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The system's CA roots, read and parsed once, at startup.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// The host as the CA file is named: without IPv6 brackets; `None` for a name that is no file
/// name.
fn ca_name(url: &Url) -> Option<String> {
    let host = url.host_str()?.trim_matches(['[', ']']);
    (!host.is_empty() && host != "." && host != "..").then(|| host.to_string())
}

/// The host's CA file in `dir` (`ARGOCD_TLS_DATA_PATH`); none when `dir` is unset, rather
/// than a file of that name in the working directory.
fn ca_file(dir: &Path, url: &Url) -> Option<PathBuf> {
    if dir.as_os_str().is_empty() {
        return None;
    }
    ca_name(url).map(|name| dir.join(name))
}

fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// Same scheme, host and port: the origin the repository's credentials belong to.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    origin(a) == origin(b)
}

/// Go's `httpproxy` never proxies requests to localhost or a loopback address.
fn loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An error's message with its causes, each once.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

/// Whether the failure is the TLS handshake (certificate not trusted, bad client cert ...).
pub(crate) fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if rustls_inside(e) {
            return true;
        }
        next = e.source();
    }
    false
}

/// `io::Error` hides what it wraps from `source()`, and connectors nest them.
fn rustls_inside(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => rustls_inside(inner),
        None => false,
    }
}

impl Access {
    /// Runs at startup: it also reads the system's CA roots, off the request path.
    pub(crate) fn new(settings: &Settings) -> Self {
        system_roots();
        Self {
            tls_data_path: settings.tls_data_path.clone(),
            timeout: settings.timeout,
            proxies: settings.proxies.clone(),
            user_agent: match &settings.user_agent {
                Some(agent) => agent.as_str().into(),
                None => concat!("argocd-repo-server/", env!("CARGO_PKG_VERSION")).into(),
            },
            observer: settings.observer.clone(),
            clients: Mutex::default(),
        }
    }

    /// Reports one request to the observer.
    pub(crate) fn observe(&self, op: &'static str, repo: &Repo, ok: bool, started: Instant) {
        if let Some(observer) = &self.observer {
            observer.observe(&Event {
                kind: "helm",
                op,
                repo: repo.url().to_string(),
                ok,
                elapsed: started.elapsed(),
            });
        }
    }

    /// GET `url` with `repo`'s settings (and its credentials with [`Creds::Send`]); a response
    /// that is not 2xx is an error naming `what` (the repository, chart, version).
    pub(crate) async fn get(
        &self,
        repo: &Repo,
        url: &Url,
        creds: Creds,
        what: &str,
    ) -> Result<Response, Error> {
        let client = self.client(repo, url, creds).await?;
        let mut request = client.get(url.clone());
        if creds == Creds::Send {
            // reqwest marks these headers sensitive: never logged.
            request = match auth(repo) {
                Some(Auth::Basic(user, pass)) => request.basic_auth(user, Some(pass)),
                Some(Auth::Bearer(token)) => request.bearer_auth(token),
                None => request,
            };
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unavailable(url, what, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let shown = repo_source::display(url.as_str());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if creds == Creds::Withhold => {
                Error::Denied(format!(
                    "{what}: {shown} answered {status} to a request without the repository's credentials (they go to another host only with passCredentials)"
                ))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Denied(format!(
                "{what}: {shown} answered {status}; check the repository's username and password (or token)"
            )),
            StatusCode::NOT_FOUND => Error::NotFound(format!("{what}: {shown} answered {status}")),
            _ => Error::Unavailable(format!("{what}: {shown} answered {status}")),
        })
    }

    /// A failed request as an error that names the repository and, for TLS, the fix.
    pub(crate) fn unavailable(&self, url: &Url, what: &str, err: &reqwest::Error) -> Error {
        let cause = chain(err);
        if err.is_timeout() {
            return Error::Unavailable(format!(
                "{what}: no answer within {:?}: {cause}",
                self.timeout
            ));
        }
        if is_tls(err) {
            let file = ca_file(&self.tls_data_path, url)
                .map(|path| path.display().to_string())
                .unwrap_or_default();
            return Error::Unavailable(format!(
                "{what}: TLS: {cause}; if the server's certificate is from a private CA, add it to argocd-tls-certs-cm (read from {file}), or set `insecure` on the repository"
            ));
        }
        Error::Unavailable(format!("{what}: {cause}"))
    }

    async fn client(&self, repo: &Repo, url: &Url, creds: Creds) -> Result<Client, Error> {
        let ca_path = ca_file(&self.tls_data_path, url);
        let ca = match &ca_path {
            Some(path) => tokio::fs::metadata(path)
                .await
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len())),
            None => None,
        };
        let key = Key {
            origin: origin(url),
            settings: settings_hash(repo, creds),
            ca,
        };
        {
            let clients = &mut *self.clients.lock();
            clients.tick += 1;
            if let Some(entry) = clients.built.iter_mut().find(|(k, _, _)| *k == key) {
                entry.2 = clients.tick;
                return Ok(entry.1.clone());
            }
        }
        let build = Build {
            repo: repo.clone(),
            url: url.clone(),
            creds,
            ca: ca.and(ca_path),
            timeout: self.timeout,
            proxies: self.proxies.clone(),
            user_agent: self.user_agent.clone(),
        };
        let client = tokio::task::spawn_blocking(move || build.client())
            .await
            .map_err(|e| Error::Unavailable(format!("{}: {e}", repo.url())))??;
        let clients = &mut *self.clients.lock();
        clients.tick += 1;
        let built = &mut clients.built;
        // Built meanwhile by a concurrent request: share that one (and its connections).
        if let Some(entry) = built.iter().find(|(k, _, _)| *k == key) {
            return Ok(entry.1.clone());
        }
        if built.len() >= CLIENTS {
            if let Some(oldest) = (0..built.len()).min_by_key(|&i| built[i].2) {
                built.swap_remove(oldest);
            }
        }
        built.push((key, client.clone(), clients.tick));
        Ok(client)
    }
}

/// The hash of what shapes a client (not the Basic/bearer credentials, sent per request).
fn settings_hash(repo: &Repo, creds: Creds) -> [u8; 32] {
    let c = &repo.creds;
    let cert = creds == Creds::Send;
    let mut h = Sha256::new();
    for part in [
        if cert {
            c.tls_client_cert_data.as_str()
        } else {
            ""
        },
        if cert {
            c.tls_client_cert_key.as_str()
        } else {
            ""
        },
        &c.proxy,
        &c.no_proxy,
        if c.insecure { "1" } else { "0" },
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// How a request authenticates.
enum Auth<'a> {
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

/// Basic from the repository's username/password (else the URL's userinfo), else its bearer
/// token.
fn auth(repo: &Repo) -> Option<Auth<'_>> {
    let c = &repo.creds;
    if !c.username.is_empty() || !c.password.is_empty() {
        Some(Auth::Basic(&c.username, &c.password))
    } else if let Some((user, pass)) = &repo.remote.userinfo {
        Some(Auth::Basic(user, pass))
    } else if !c.bearer_token.is_empty() {
        Some(Auth::Bearer(&c.bearer_token))
    } else {
        None
    }
}

/// Everything a client build needs, moved to a blocking thread (it reads files).
struct Build {
    repo: Repo,
    url: Url,
    creds: Creds,
    ca: Option<PathBuf>,
    timeout: std::time::Duration,
    proxies: crate::Proxies,
    user_agent: Arc<str>,
}

impl Build {
    fn client(self) -> Result<Client, Error> {
        let shown = self.repo.url().to_string();
        let tls = self.tls(&shown)?;
        let mut builder = Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(self.timeout)
            .read_timeout(self.timeout)
            .user_agent(&*self.user_agent)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let downgrade = attempt
                    .previous()
                    .last()
                    .is_some_and(|p| p.scheme() == "https")
                    && attempt.url().scheme() != "https";
                if downgrade {
                    attempt.error("refused a redirect from https to plain http")
                } else if attempt.previous().len() > REDIRECTS {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }))
            // The process environment is never read here: proxies come from the settings.
            .no_proxy();
        for proxy in self.proxies(&shown)? {
            builder = builder.proxy(proxy);
        }
        builder
            .build()
            .map_err(|e| Error::Invalid(format!("{shown}: HTTP client: {}", chain(&e))))
    }

    /// The repository's own proxy, else the pod's; none for a loopback host.
    fn proxies(&self, shown: &str) -> Result<Vec<reqwest::Proxy>, Error> {
        if loopback(&self.url) {
            return Ok(Vec::new());
        }
        let c = &self.repo.creds;
        let bad = |proxy: &str, e: reqwest::Error| {
            Error::Invalid(format!(
                "{shown}: proxy {} is not a proxy URL: {}",
                repo_source::display(proxy),
                chain(&e.without_url())
            ))
        };
        let no = |list: &str| reqwest::NoProxy::from_string(list);
        if !c.proxy.is_empty() {
            let proxy = reqwest::Proxy::all(c.proxy.as_str()).map_err(|e| bad(&c.proxy, e))?;
            return Ok(vec![proxy.no_proxy(no(&c.no_proxy))]);
        }
        let p = &self.proxies;
        let mut out = Vec::new();
        if !p.https.is_empty() {
            let proxy = reqwest::Proxy::https(p.https.as_str()).map_err(|e| bad(&p.https, e))?;
            out.push(proxy.no_proxy(no(&p.no)));
        }
        if !p.http.is_empty() {
            let proxy = reqwest::Proxy::http(p.http.as_str()).map_err(|e| bad(&p.http, e))?;
            out.push(proxy.no_proxy(no(&p.no)));
        }
        Ok(out)
    }

    fn tls(&self, shown: &str) -> Result<ClientConfig, Error> {
        let c = &self.repo.creds;
        let invalid =
            |what: &str, e: &dyn std::fmt::Display| Error::Invalid(format!("{shown}: {what}: {e}"));
        let identity: Option<Arc<dyn ResolvesClientCert>> = match self.creds {
            Creds::Send if !c.tls_client_cert_data.is_empty() => {
                let chain = CertificateDer::pem_slice_iter(c.tls_client_cert_data.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid("tlsClientCertData is not a PEM certificate", &e))?;
                let key = PrivateKeyDer::from_pem_slice(c.tls_client_cert_key.as_bytes())
                    // The parser's message never quotes the key.
                    .map_err(|e| invalid("tlsClientCertKey is not a PEM private key", &e))?;
                let certified = CertifiedKey::from_der(chain, key, &repo_tls::provider())
                    .map_err(|e| invalid("TLS client certificate", &e))?;
                Some(Arc::new(repo_tls::StaticIdentity(Arc::new(certified))))
            }
            _ => None,
        };
        let mut config = if c.insecure {
            let connector = repo_tls::Connector::new(&repo_tls::ServerTrust::Insecure, identity)
                .map_err(|e| invalid("TLS", &e))?;
            (*connector.config()).clone()
        } else {
            let mut roots = system_roots().clone();
            if let Some(path) = &self.ca {
                let extra = repo_tls::read_chain(path)
                    .map_err(|e| invalid("the CA file of argocd-tls-certs-cm for this host", &e))?;
                for cert in extra {
                    roots
                        .add(cert)
                        .map_err(|e| invalid(&format!("CA in {}", path.display()), &e))?;
                }
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), repo_tls::provider())
                    .build()
                    .map_err(|e| invalid("TLS verifier", &e))?;
            let builder = ClientConfig::builder_with_provider(repo_tls::provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| invalid("TLS", &e))?
                .with_webpki_verifier(verifier);
            match identity {
                Some(identity) => builder.with_client_cert_resolver(identity),
                None => builder.with_no_client_auth(),
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_source::Creds as RepoCreds;

    fn repo(url: &str, creds: RepoCreds) -> Repo {
        Repo::new(url, creds).unwrap()
    }

    #[test]
    fn auth_prefers_basic_then_userinfo_then_token() {
        let basic = repo(
            "https://u:p@h/r",
            RepoCreds {
                username: "alice".into(),
                password: "pw".into(),
                bearer_token: "tok".into(),
                ..RepoCreds::default()
            },
        );
        assert!(matches!(auth(&basic), Some(Auth::Basic("alice", "pw"))));
        let userinfo = repo("https://u:p@h/r", RepoCreds::default());
        assert!(matches!(auth(&userinfo), Some(Auth::Basic("u", "p"))));
        let token = repo(
            "https://h/r",
            RepoCreds {
                bearer_token: "tok".into(),
                ..RepoCreds::default()
            },
        );
        assert!(matches!(auth(&token), Some(Auth::Bearer("tok"))));
        assert!(auth(&repo("https://h/r", RepoCreds::default())).is_none());
    }

    #[test]
    fn identity_changes_with_every_credential() {
        let base = identity(&repo("https://h/r", RepoCreds::default()));
        for creds in [
            RepoCreds {
                username: "a".into(),
                ..RepoCreds::default()
            },
            RepoCreds {
                password: "a".into(),
                ..RepoCreds::default()
            },
            RepoCreds {
                insecure: true,
                ..RepoCreds::default()
            },
            RepoCreds {
                proxy: "http://p".into(),
                ..RepoCreds::default()
            },
        ] {
            assert_ne!(identity(&repo("https://h/r", creds)), base);
        }
        assert_ne!(
            identity(&repo("https://x:y@h/r", RepoCreds::default())),
            base
        );
    }

    #[test]
    fn origins_and_loopback() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&u("https://h/a"), &u("https://h:443/b")));
        assert!(!same_origin(&u("https://h/a"), &u("http://h/a")));
        assert!(!same_origin(&u("https://h/a"), &u("https://h:8443/a")));
        assert!(!same_origin(&u("https://h/a"), &u("https://cdn.h/a")));
        assert!(loopback(&u("http://127.0.0.1:1/")) && loopback(&u("http://[::1]/")));
        assert!(loopback(&u("http://LOCALHOST/")) && !loopback(&u("http://h/")));
        assert_eq!(ca_name(&u("https://[::1]:8/")).as_deref(), Some("::1"));
        assert_eq!(
            ca_name(&u("https://Charts.Example:8/")).as_deref(),
            Some("charts.example")
        );
        assert_eq!(
            ca_file(Path::new("/tls"), &u("https://h:8/")),
            Some(PathBuf::from("/tls/h"))
        );
        assert_eq!(ca_file(Path::new(""), &u("https://h/")), None, "not ./h");
    }
}
