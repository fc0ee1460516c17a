//! GitHub App credentials against a local server playing the GitHub API (it verifies the
//! app's RS256 JWT with the app's public key and issues short-lived installation tokens) and a
//! git smart-HTTP server that accepts only a current installation token for `x-access-token`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use rcgen::{KeyPair, PKCS_RSA_SHA256};
use repo_git::{Cache, Creds, Error, Repo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::support::{self, http::Check, Fixture, Http};

const APP: i64 = 4711;
const INSTALLATION: i64 = 42;

/// The GitHub API as far as GitHub App credentials use it.
struct Api {
    port: u16,
    state: Arc<State>,
    task: JoinHandle<()>,
}

struct State {
    /// Under which path the API answers (`/api/v3` for GitHub Enterprise).
    prefix: &'static str,
    /// The app's public key (PKCS#1 DER): the only key whose JWTs are accepted.
    public: Vec<u8>,
    /// Lifetime of the tokens issued.
    lifetime: Duration,
    /// Installation id → account login.
    installations: Vec<(i64, &'static str)>,
    /// Token → when it expires; a new token for an installation revokes the previous one.
    tokens: Mutex<HashMap<String, SystemTime>>,
    exchanges: AtomicUsize,
    listings: AtomicUsize,
    /// Installations tokens were issued for.
    exchanged: Mutex<Vec<i64>>,
}

impl Api {
    async fn start(key: &KeyPair, prefix: &'static str, lifetime: Duration) -> Self {
        Self::serve(key, prefix, lifetime, None).await
    }

    /// [`Api::start`] over https with `tls`.
    async fn serve(
        key: &KeyPair,
        prefix: &'static str,
        lifetime: Duration,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> Self {
        let state = Arc::new(State {
            prefix,
            public: key.public_key_raw().to_vec(),
            lifetime,
            installations: vec![(7, "someone-else"), (INSTALLATION, "Acme")],
            tokens: Mutex::new(HashMap::new()),
            exchanges: AtomicUsize::new(0),
            listings: AtomicUsize::new(0),
            exchanged: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = state.clone();
        let tls = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, tls) = (served.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.answer(&req)) }
                    });
                    let http = http1::Builder::new();
                    let _ = match tls {
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => {
                                http.serve_connection(TokioIo::new(stream), service).await
                            }
                            Err(_) => return,
                        },
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                    };
                });
            }
        });
        Self { port, state, task }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.state.prefix)
    }

    /// The git server's rule: `x-access-token` with a token issued and not yet expired.
    fn check(&self) -> Check {
        let state = self.state.clone();
        Arc::new(move |user, password| {
            user == "x-access-token"
                && state
                    .tokens
                    .lock()
                    .get(password)
                    .is_some_and(|until| SystemTime::now() < *until)
        })
    }

    fn exchanges(&self) -> usize {
        self.state.exchanges.load(Ordering::SeqCst)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let reply = |status: u16, body: String| {
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        if let Err(why) = self.verify(req) {
            return reply(401, format!("{{\"message\":{why:?}}}"));
        }
        let Some(path) = req.uri().path().strip_prefix(self.prefix) else {
            return reply(404, "{}".into());
        };
        if req.method() == Method::GET && path == "/app/installations" {
            self.listings.fetch_add(1, Ordering::SeqCst);
            let list: Vec<String> = self
                .installations
                .iter()
                .map(|(id, login)| format!("{{\"id\":{id},\"account\":{{\"login\":\"{login}\"}}}}"))
                .collect();
            return reply(200, format!("[{}]", list.join(",")));
        }
        let id = path
            .strip_prefix("/app/installations/")
            .and_then(|p| p.strip_suffix("/access_tokens"))
            .and_then(|id| id.parse::<i64>().ok());
        match id {
            Some(id)
                if req.method() == Method::POST
                    && self.installations.iter().any(|(i, _)| *i == id) =>
            {
                let n = self.exchanges.fetch_add(1, Ordering::SeqCst);
                self.exchanged.lock().push(id);
                let token = format!("ghs_installation_{id}_{n}");
                let until = SystemTime::now() + self.lifetime;
                let mut tokens = self.tokens.lock();
                tokens.clear();
                tokens.insert(token.clone(), until);
                let at = time::OffsetDateTime::from(until)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap();
                reply(
                    201,
                    format!("{{\"token\":\"{token}\",\"expires_at\":\"{at}\"}}"),
                )
            }
            _ => reply(404, "{\"message\":\"Not Found\"}".into()),
        }
    }

    /// GitHub's rules for an app JWT: RS256 by the app's key, issuer the app id, not expired,
    /// valid at most ten minutes.
    fn verify(&self, req: &Request<Incoming>) -> Result<(), String> {
        let jwt = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("no bearer JWT")?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[APP.to_string()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.leeway = 0;
        let key = DecodingKey::from_rsa_der(&self.public);
        let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation)
            .map_err(|e| format!("A JSON web token could not be decoded: {e}"))?
            .claims;
        let span = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
        if span > 11 * 60 {
            return Err("'Expiration time' claim ('exp') is too far in the future".into());
        }
        Ok(())
    }
}

fn rsa() -> KeyPair {
    KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap()
}

/// The fixture repository as `<org>/repo.git` on a git server that requires `api`'s tokens.
async fn git_server(fixture: &Fixture, api: &Api) -> Option<(Http, tempfile::TempDir)> {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("acme")).unwrap();
    std::os::unix::fs::symlink(fixture.bare(), root.path().join("acme/repo.git")).unwrap();
    let http = Http::with_check(root.path(), api.check()).await?;
    Some((http, root))
}

fn app_repo(url: &str, key: &KeyPair, installation: i64, base: String) -> Repo {
    Repo::new(
        url,
        Creds {
            github_app_id: APP,
            github_app_installation_id: installation,
            github_app_private_key: key.serialize_pem(),
            github_app_enterprise_base_url: base,
            ..Creds::default()
        },
    )
    .unwrap()
}

fn app_cache(dir: &std::path::Path, lifetime: Duration) -> Cache {
    Cache::new(repo_git::Settings {
        github_app_creds_expiration: lifetime,
        ..support::settings(dir)
    })
    .unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn installation_token_clones_and_is_reused_within_its_life() {
    let fixture = Fixture::new();
    let key = rsa();
    let api = Api::start(&key, "", HOUR).await;
    let Some((git, _root)) = git_server(&fixture, &api).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = app_cache(dir.path(), HOUR);
    let url = git.url("acme/repo.git");

    // Without the app, the git server refuses.
    let anonymous = Repo::new(&url, Creds::default()).unwrap();
    let refused = cache.test(&anonymous).await.unwrap_err();
    assert!(
        matches!(refused, Error::Unauthenticated { .. }),
        "{refused}"
    );

    let repo = app_repo(&url, &key, INSTALLATION, api.base());
    cache.test(&repo).await.unwrap();
    let head = fixture.commits.last().unwrap();
    let snapshot = cache.snapshot(&repo, head).await.unwrap();
    assert_eq!(snapshot.sha(), head);
    cache.test(&repo).await.unwrap();
    assert!(git.adverts.load(Ordering::SeqCst) >= 3);
    assert_eq!(api.exchanges(), 1, "one token for every git call");
    assert_eq!(*api.state.exchanged.lock(), [INSTALLATION]);

    // The cached snapshot is not served to the same app id with another key.
    let impostor = app_repo(&url, &rsa(), INSTALLATION, api.base());
    let err = cache.snapshot(&impostor, head).await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
}

#[tokio::test]
async fn installation_is_discovered_by_organization_when_absent() {
    let fixture = Fixture::new();
    let key = rsa();
    let api = Api::start(&key, "", HOUR).await;
    let Some((git, _root)) = git_server(&fixture, &api).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = app_cache(dir.path(), HOUR);
    let repo = app_repo(&git.url("acme/repo.git"), &key, 0, api.base());
    cache.test(&repo).await.unwrap();
    cache.test(&repo).await.unwrap();
    assert_eq!(*api.state.exchanged.lock(), [INSTALLATION]);
    assert_eq!(api.state.listings.load(Ordering::SeqCst), 1, "listed once");

    // An organization the app is not installed for is named, with the fix.
    let stranger = app_repo(&git.url("nobody/repo.git"), &key, 0, api.base());
    let err = cache.test(&stranger).await.unwrap_err().to_string();
    assert!(
        err.contains("not installed for organization nobody"),
        "{err}"
    );
    assert!(err.contains("githubAppInstallationID"), "{err}");
}

#[tokio::test]
async fn a_token_near_its_expiry_is_replaced() {
    let fixture = Fixture::new();
    let key = rsa();
    // Less than the minute of margin: every use needs a new token, and the API revokes the
    // previous one, so reusing it would fail at the git server.
    let api = Api::start(&key, "", Duration::from_secs(50)).await;
    let Some((git, _root)) = git_server(&fixture, &api).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = app_cache(dir.path(), HOUR);
    let repo = app_repo(&git.url("acme/repo.git"), &key, INSTALLATION, api.base());
    cache.test(&repo).await.unwrap();
    cache.test(&repo).await.unwrap();
    assert_eq!(api.exchanges(), 2);

    // A configured lifetime shorter than GitHub's also renews.
    let long = Api::start(&key, "", HOUR).await;
    let Some((git, _root)) = git_server(&fixture, &long).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = app_cache(dir.path(), Duration::ZERO);
    let repo = app_repo(&git.url("acme/repo.git"), &key, INSTALLATION, long.base());
    cache.test(&repo).await.unwrap();
    cache.test(&repo).await.unwrap();
    assert_eq!(long.exchanges(), 2);
}

#[tokio::test]
async fn a_wrong_private_key_is_named_and_never_shown() {
    let fixture = Fixture::new();
    let api = Api::start(&rsa(), "", HOUR).await;
    let Some((git, _root)) = git_server(&fixture, &api).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = app_cache(dir.path(), HOUR);
    let wrong = rsa();
    let repo = app_repo(&git.url("acme/repo.git"), &wrong, INSTALLATION, api.base());
    let err = cache.test(&repo).await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("githubAppPrivateKey"), "{shown}");
    assert!(shown.contains(&APP.to_string()), "{shown}");
    let pem = wrong.serialize_pem();
    let body = pem.lines().nth(1).unwrap();
    assert!(!shown.contains(body), "the key leaked: {shown}");
    assert_eq!(api.exchanges(), 0);

    let garbled = Repo::new(
        &git.url("acme/repo.git"),
        Creds {
            github_app_id: APP,
            github_app_installation_id: INSTALLATION,
            github_app_private_key: "not a key".into(),
            github_app_enterprise_base_url: api.base(),
            ..Creds::default()
        },
    )
    .unwrap();
    let err = cache.test(&garbled).await.unwrap_err().to_string();
    assert!(err.contains("githubAppPrivateKey"), "{err}");
    assert!(!err.contains("not a key"), "{err}");
}

#[tokio::test]
async fn enterprise_base_url_is_honoured() {
    let fixture = Fixture::new();
    let key = rsa();
    let api = Api::start(&key, "/api/v3", HOUR).await;
    let Some((git, _root)) = git_server(&fixture, &api).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = app_cache(dir.path(), HOUR);
    let url = git.url("acme/repo.git");
    let repo = app_repo(&url, &key, 0, format!("{}/", api.base()));
    cache.test(&repo).await.unwrap();
    assert_eq!(*api.state.exchanged.lock(), [INSTALLATION]);

    // The API root without the enterprise path answers nothing.
    let root = format!("http://127.0.0.1:{}", api.port);
    let err = cache
        .test(&app_repo(&url, &key, INSTALLATION, root))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("404"), "{err}");
}

#[tokio::test]
async fn a_private_ca_of_the_api_comes_from_the_tls_data_path() {
    let fixture = Fixture::new();
    let key = rsa();
    let ca = repo_testkit::Ca::new("private GitHub Enterprise CA");
    let tls = repo_testkit::served::tls(&ca.issue(&repo_testkit::Leaf::server()), None);
    let api = Api::serve(&key, "/api/v3", HOUR, Some(tls)).await;
    let Some((git, _root)) = git_server(&fixture, &api).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    let cache = Cache::new(repo_git::Settings {
        tls_data_path: tls_dir.clone(),
        ..support::settings(&dir.path().join("cache"))
    })
    .unwrap();
    let base = format!("https://localhost:{}/api/v3", api.port);
    let repo = app_repo(&git.url("acme/repo.git"), &key, INSTALLATION, base);

    let err = cache.test(&repo).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    let hint = "add that CA to argocd-tls-certs-cm under the key localhost";
    assert!(err.to_string().contains(hint), "{err}");

    std::fs::write(tls_dir.join("localhost"), &ca.cert).unwrap();
    cache.test(&repo).await.unwrap();
    assert_eq!(api.exchanges(), 1);
}
