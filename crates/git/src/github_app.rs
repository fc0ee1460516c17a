//! GitHub App credentials (upstream's `GitHubAppCreds`): a JWT signed with the app's private
//! key (RS256) is exchanged for an installation token (`POST {api}/app/installations/{id}/
//! access_tokens`), which git then uses as the password of `x-access-token`, through the same
//! askpass file as any password. The installation is looked up by the repository's
//! organization when `githubAppInstallationID` is absent. Tokens are reused until a minute
//! before they expire (or for the configured lifetime, if shorter), with one exchange at a
//! time per app and installation.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::TOKEN_USER;
use crate::flight::Flights;
use crate::{Creds, Error};
use repo_source::{Proxies, Remote, Transport};

/// GitHub's API, when `githubAppEnterpriseBaseUrl` is not set.
pub(crate) const GITHUB_API: &str = "https://api.github.com";
/// A token this close to its expiry is not handed out (as ghinstallation).
const MARGIN: Duration = Duration::from_secs(60);
/// How long a discovered installation id is reused (as upstream).
const INSTALLATION_TTL: Duration = Duration::from_secs(3600);
/// Installations listed per page (GitHub's maximum).
const PER_PAGE: usize = 100;

/// One app installation's tokens: the API, the app, the installation and which key signs.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    api: String,
    app: i64,
    installation: i64,
    signer: [u8; 32],
}

/// (API, app, lowercase organization login).
type Org = (String, i64, String);

#[derive(Clone)]
struct Token {
    value: String,
    until: Instant,
}

pub(crate) struct Apps {
    /// Upstream's `ARGOCD_GITHUB_APP_CREDS_EXPIRATION_DURATION`.
    lifetime: Duration,
    timeout: Duration,
    proxies: Proxies,
    /// `ARGOCD_TLS_DATA_PATH`: `<dir>/<host>` holds extra CAs for the API host, as for git.
    tls_data_path: PathBuf,
    tokens: Mutex<HashMap<Key, Token>>,
    exchanges: Flights<Key, Token>,
    /// Installation ids and when they were listed.
    installations: Mutex<HashMap<Org, (i64, Instant)>>,
    listing: Flights<(String, i64), ()>,
}

#[derive(Serialize)]
struct Claims {
    iat: u64,
    exp: u64,
    iss: String,
}

#[derive(Deserialize)]
struct Issued {
    token: String,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
struct Installation {
    id: i64,
    account: Option<Account>,
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

impl Apps {
    pub(crate) fn new(
        lifetime: Duration,
        timeout: Duration,
        proxies: Proxies,
        tls_data_path: PathBuf,
    ) -> Self {
        Self {
            lifetime,
            timeout,
            proxies,
            tls_data_path,
            tokens: Mutex::new(HashMap::new()),
            exchanges: Flights::new(),
            installations: Mutex::new(HashMap::new()),
            listing: Flights::new(),
        }
    }

    /// `creds` as git uses them: for a GitHub App over http(s), `x-access-token` and a
    /// current installation token; anything else unchanged.
    pub(crate) async fn creds(&self, remote: &Remote, creds: Creds) -> Result<Creds, Error> {
        let app = creds.github_app_id != 0 || !creds.github_app_private_key.is_empty();
        if !app || !matches!(remote.transport, Transport::Http | Transport::Https) {
            return Ok(creds);
        }
        // Boxed: the exchange's future is large, and this one sits in every git command's,
        // down the submodule recursion.
        let token = Box::pin(self.token(remote, &creds)).await?;
        Ok(Creds {
            username: TOKEN_USER.into(),
            password: token,
            bearer_token: String::new(),
            ..creds
        })
    }

    async fn token(&self, remote: &Remote, creds: &Creds) -> Result<String, Error> {
        let url = &remote.url;
        let app = creds.github_app_id;
        if app <= 0 {
            return Err(Error::invalid(
                url,
                "githubAppID must be set (a positive number) with githubAppPrivateKey",
            ));
        }
        if creds.github_app_private_key.is_empty() {
            return Err(Error::invalid(
                url,
                format!("githubAppPrivateKey of GitHub App {app} is empty"),
            ));
        }
        let api = api(creds);
        let key = |installation| Key {
            api: api.clone(),
            app,
            installation,
            signer: Sha256::digest(creds.github_app_private_key.as_bytes()).into(),
        };
        let known = match creds.github_app_installation_id {
            0 => organization(url)
                .and_then(|org| self.known(&(api.clone(), app, org.to_ascii_lowercase()))),
            id => Some(id),
        };
        // The common case: no key parsing, no client.
        if let Some(token) = known.and_then(|id| self.cached(&key(id))) {
            return Ok(token);
        }
        let signer =
            EncodingKey::from_rsa_pem(creds.github_app_private_key.as_bytes()).map_err(|_| {
                Error::invalid(
                    url,
                    format!(
                        "githubAppPrivateKey of GitHub App {app} is not an RSA private key in PEM"
                    ),
                )
            })?;
        let cas = self.cas(&api, url).await?;
        let call = Call {
            url,
            api: &api,
            app,
            signer: &signer,
            client: self.client(creds, url, cas)?,
        };
        let installation = match known {
            Some(id) => id,
            None => self.discover(&call, remote).await?,
        };
        let key = key(installation);
        let token = self
            .exchanges
            .run(key.clone(), async {
                // A caller that waited on the previous flight finds its token here.
                if let Some(value) = self.cached(&key) {
                    return Ok(Token {
                        value,
                        until: Instant::now(),
                    });
                }
                let token = call.exchange(installation, self.lifetime).await?;
                self.tokens.lock().insert(key.clone(), token.clone());
                Ok(token)
            })
            .await?;
        Ok(token.value)
    }

    fn cached(&self, key: &Key) -> Option<String> {
        let mut tokens = self.tokens.lock();
        match tokens.get(key) {
            Some(t) if Instant::now() < t.until => Some(t.value.clone()),
            Some(_) => {
                tokens.remove(key);
                None
            }
            None => None,
        }
    }

    /// An installation id listed within the hour.
    fn known(&self, org: &Org) -> Option<i64> {
        self.installations
            .lock()
            .get(org)
            .filter(|(_, at)| at.elapsed() < INSTALLATION_TTL)
            .map(|(id, _)| *id)
    }

    /// The installation of the app for the repository's organization (the URL's first path
    /// segment), from a listing of the app's installations shared by concurrent callers.
    async fn discover(&self, call: &Call<'_>, remote: &Remote) -> Result<i64, Error> {
        let org = organization(&remote.url)
            .ok_or_else(|| {
                Error::invalid(
                    call.url,
                    "no organization in the URL to find the GitHub App installation by: set githubAppInstallationID",
                )
            })?
            .to_ascii_lowercase();
        let wanted = (call.api.to_string(), call.app, org.clone());
        if let Some(id) = self.known(&wanted) {
            return Ok(id);
        }
        self.listing
            .run((call.api.to_string(), call.app), async {
                if self.known(&wanted).is_some() {
                    return Ok(());
                }
                let listed = call.installations().await?;
                let now = Instant::now();
                let mut installations = self.installations.lock();
                for (login, id) in listed {
                    installations.insert((call.api.to_string(), call.app, login), (id, now));
                }
                Ok(())
            })
            .await?;
        self.known(&wanted).ok_or_else(|| Error::Unauthenticated {
            url: call.url.to_string(),
            detail: format!(
                "GitHub App {} is not installed for organization {org} at {}: install it there or set githubAppInstallationID",
                call.app, call.api
            ),
        })
    }

    /// The CAs `argocd-tls-certs-cm` adds for an https API's host (re-read at each exchange).
    async fn cas(&self, api: &str, url: &str) -> Result<Vec<reqwest::Certificate>, Error> {
        let Some(host) = https_host(api) else {
            return Ok(Vec::new());
        };
        let file = self.tls_data_path.join(&host);
        let pem = match tokio::fs::read(&file).await {
            Ok(pem) => pem,
            Err(_) => return Ok(Vec::new()),
        };
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(cas) if !cas.is_empty() => Ok(cas),
            _ => Err(Error::invalid(
                url,
                format!(
                    "{} (argocd-tls-certs-cm key {host}, for the GitHub API) holds no PEM certificate",
                    file.display()
                ),
            )),
        }
    }

    /// A client for the API with the repository's proxy (else the pod's), `insecure` and the
    /// API host's extra CAs.
    fn client(
        &self,
        creds: &Creds,
        url: &str,
        cas: Vec<reqwest::Certificate>,
    ) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .tls_certs_merge(cas)
            .user_agent("argocd-repo-server")
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(creds.insecure)
            .no_proxy();
        let bad = |_| Error::invalid(url, "proxy: not a proxy URL");
        if !creds.proxy.is_empty() {
            let no = reqwest::NoProxy::from_string(&creds.no_proxy);
            builder = builder.proxy(reqwest::Proxy::all(&creds.proxy).map_err(bad)?.no_proxy(no));
        } else {
            let p = &self.proxies;
            for (proxy, kind) in [(&p.https, "https"), (&p.http, "http")] {
                if proxy.is_empty() {
                    continue;
                }
                let no = reqwest::NoProxy::from_string(&p.no);
                let proxy = match kind {
                    "https" => reqwest::Proxy::https(proxy.as_str()),
                    _ => reqwest::Proxy::http(proxy.as_str()),
                };
                builder = builder.proxy(proxy.map_err(bad)?.no_proxy(no));
            }
        }
        builder
            .build()
            .map_err(|e| Error::internal(url, format!("GitHub API client: {e}")))
    }
}

/// One use of the GitHub API on behalf of an app.
struct Call<'a> {
    /// The repository, for messages.
    url: &'a str,
    api: &'a str,
    app: i64,
    signer: &'a EncodingKey,
    client: reqwest::Client,
}

impl Call<'_> {
    /// The app's JWT: issued a minute ago against clock drift, valid nine minutes (GitHub
    /// allows ten).
    fn jwt(&self) -> Result<String, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iat: now.saturating_sub(60),
            exp: now + 9 * 60,
            iss: self.app.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, self.signer).map_err(|e| {
            Error::internal(
                self.url,
                format!("signing the JWT of GitHub App {}: {e}", self.app),
            )
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Vec<u8>, Error> {
        let unreachable = |e: reqwest::Error| {
            let mut detail = chain(&e.without_url());
            let tls = detail.to_ascii_lowercase().contains("certificate");
            if let Some(host) = https_host(self.api).filter(|_| tls) {
                detail.push_str(&format!(
                    "; if the API's certificate is from a private CA, add that CA to argocd-tls-certs-cm under the key {host}"
                ));
            }
            Error::Unavailable {
                url: self.url.to_string(),
                detail: format!("GitHub API {} ({what}): {detail}", self.api),
            }
        };
        let response = request
            .bearer_auth(self.jwt()?)
            .header("accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let fix = match status.as_u16() {
            401 => format!(
                "the API refused the app's JWT: check githubAppPrivateKey and githubAppID ({})",
                self.app
            ),
            403 | 404 => format!(
                "check githubAppInstallationID and that GitHub App {} is installed for this repository",
                self.app
            ),
            _ => format!("GitHub App {}", self.app),
        };
        let detail = format!("GitHub API {} answered {status} to {what}: {fix}", self.api);
        Err(match status.as_u16() {
            401 | 403 | 404 => Error::Unauthenticated {
                url: self.url.to_string(),
                detail,
            },
            _ => Error::Unavailable {
                url: self.url.to_string(),
                detail,
            },
        })
    }

    /// A new installation token, usable until shortly before it expires.
    async fn exchange(&self, installation: i64, lifetime: Duration) -> Result<Token, Error> {
        let endpoint = format!(
            "{}/app/installations/{installation}/access_tokens",
            self.api
        );
        let body = self
            .send(self.client.post(endpoint), "the installation token request")
            .await?;
        let issued: Issued = serde_json::from_slice(&body).map_err(|e| Error::Unavailable {
            url: self.url.to_string(),
            detail: format!(
                "GitHub API {}: unexpected installation token answer: {e}",
                self.api
            ),
        })?;
        let left = issued.expires_at.as_deref().and_then(remaining);
        let keep = left.map_or(lifetime, |left| left.saturating_sub(MARGIN).min(lifetime));
        Ok(Token {
            value: issued.token,
            until: Instant::now() + keep,
        })
    }

    /// Every installation of the app: (lowercase account login, id).
    async fn installations(&self) -> Result<Vec<(String, i64)>, Error> {
        let mut all = Vec::new();
        for page in 1.. {
            let endpoint = format!(
                "{}/app/installations?per_page={PER_PAGE}&page={page}",
                self.api
            );
            let body = self
                .send(self.client.get(endpoint), "the installations listing")
                .await?;
            let listed: Vec<Installation> =
                serde_json::from_slice(&body).map_err(|e| Error::Unavailable {
                    url: self.url.to_string(),
                    detail: format!(
                        "GitHub API {}: unexpected installations answer: {e}",
                        self.api
                    ),
                })?;
            let full = listed.len() == PER_PAGE;
            all.extend(
                listed
                    .into_iter()
                    .filter_map(|i| Some((i.account?.login.to_ascii_lowercase(), i.id))),
            );
            if !full {
                break;
            }
        }
        Ok(all)
    }
}

/// The API root: `githubAppEnterpriseBaseUrl` (e.g. `https://ghe.example.com/api/v3`), else
/// GitHub's.
fn api(creds: &Creds) -> String {
    match creds.github_app_enterprise_base_url.trim_end_matches('/') {
        "" => GITHUB_API.to_string(),
        base => base.to_string(),
    }
}

/// The host of an https API, as `argocd-tls-certs-cm` keys name it (IPv6 without brackets).
fn https_host(api: &str) -> Option<String> {
    let url = reqwest::Url::parse(api)
        .ok()
        .filter(|u| u.scheme() == "https")?;
    Some(url.host_str()?.trim_matches(['[', ']']).to_string())
}

/// An error with its causes (reqwest's own message says little).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// Time until an RFC 3339 instant; `None` if unreadable, zero if past.
fn remaining(at: &str) -> Option<Duration> {
    let at =
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    let left = at - time::OffsetDateTime::now_utc();
    Some(left.try_into().unwrap_or(Duration::ZERO))
}

/// The organization of `https://host/org/repo`: its first path segment.
fn organization(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    path.split('/').next().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_is_the_first_path_segment() {
        assert_eq!(
            organization("https://github.com/Acme/app.git"),
            Some("Acme")
        );
        assert_eq!(organization("https://ghe.local:8443/org/r"), Some("org"));
        assert_eq!(organization("https://github.com/"), None);
    }

    #[test]
    fn expiry_is_read_from_rfc3339() {
        assert_eq!(remaining("2000-01-01T00:00:00Z"), Some(Duration::ZERO));
        let left = remaining("2999-01-01T00:00:00Z").unwrap();
        assert!(left > Duration::from_secs(3600));
        assert_eq!(remaining("tomorrow"), None);
    }
}
