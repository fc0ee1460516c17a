//! A distribution-spec token server for the registry's `auth: token` mode: Basic credentials in,
//! an ES256 JWT out, signed by a key whose certificate (in the token's `x5c`) is the registry's
//! `rootcertbundle`. It runs on its own thread and runtime, so it answers while a test blocks on
//! `helm`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use repo_testkit::Leaf;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub(crate) const SERVICE: &str = "oci-test";
const ISSUER: &str = "oci-test-issuer";

/// Signs tokens; cheap to clone.
#[derive(Clone)]
pub(crate) struct Signer {
    key: Arc<dyn SigningKey>,
    cert: Vec<u8>,
}

impl Signer {
    /// A signer whose certificate is written to `bundle` (the registry's rootcertbundle).
    pub(crate) fn new(bundle: &Path) -> Self {
        let pair = Leaf::server().self_signed();
        std::fs::write(bundle, &pair.cert).unwrap();
        let key = PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).unwrap();
        let cert = CertificateDer::from_pem_slice(pair.cert.as_bytes()).unwrap();
        Self {
            key: rustls::crypto::aws_lc_rs::sign::any_ecdsa_type(&key).unwrap(),
            cert: cert.to_vec(),
        }
    }

    /// A JWT granting `actions` on each repository of `scopes` (`repository:<name>:<actions>`).
    pub(crate) fn token(&self, subject: &str, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.cert)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now - 60,
            "jti": format!("{now}-{subject}"),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let der = self
            .key
            .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .unwrap()
            .sign(input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw_signature(&der)))
    }
}

/// The registry's `auth:` section for a token server at `realm`.
pub(crate) fn registry_config(realm: &str, bundle: &Path) -> String {
    format!(
        "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        bundle.display()
    )
}

/// Serves `/token` on 127.0.0.1 until the process ends: `user` and `password` get the scopes
/// they ask for, no credentials get a token without access, other credentials get 401.
/// Returns the realm URL.
pub(crate) fn serve(signer: Signer, user: &str, password: &str) -> String {
    let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (user, password) = (user.to_string(), password.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (signer, expected) = (signer.clone(), expected.clone());
                let (user, password) = (user.clone(), password.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (signer, expected) = (signer.clone(), expected.clone());
                        let (user, password) = (user.clone(), password.clone());
                        async move {
                            let answer = answer(req, &signer, &expected, &user, &password).await;
                            Ok::<_, Infallible>(answer)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
    });
    format!("http://{addr}/token")
}

/// The token for one request: credentials as Basic (distribution token auth) or in an OAuth2
/// password-grant form (what helm's client posts), scopes from the query or the form.
async fn answer(
    req: Request<Incoming>,
    signer: &Signer,
    expected: &str,
    user: &str,
    password: &str,
) -> Response<Full<Bytes>> {
    let basic = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = req.uri().query().unwrap_or_default().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = format!("{query}&{}", String::from_utf8_lossy(&body));
    let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://token/?{text}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let accepted = match (basic.as_deref(), field("username"), field("password")) {
        (Some(given), _, _) => Some(given == expected),
        (None, Some(u), Some(p)) => Some(u == user && p == password),
        _ => None,
    };
    let subject = match accepted {
        None => "",
        Some(true) => user,
        Some(false) => {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .body(Full::new(Bytes::from_static(
                    b"{\"details\":\"wrong credentials\"}",
                )))
                .unwrap()
        }
    };
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key == "scope" && !subject.is_empty())
        .flat_map(|(_, value)| value.split(' ').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let token = signer.token(subject, &scopes);
    let body = serde_json::json!({ "token": token, "access_token": token, "expires_in": 600 });
    Response::new(Full::new(Bytes::from(body.to_string())))
}

/// An ECDSA signature from DER (`SEQUENCE { r, s }`) to JWS's 64 raw bytes.
fn raw_signature(der: &[u8]) -> Vec<u8> {
    let integer = |at: usize| {
        assert_eq!(der[at], 0x02, "DER INTEGER");
        let len = der[at + 1] as usize;
        let value = &der[at + 2..at + 2 + len];
        let value = &value[value.len().saturating_sub(32)..];
        let mut out = vec![0u8; 32 - value.len()];
        out.extend_from_slice(value);
        (out, at + 2 + len)
    };
    assert_eq!(der[0], 0x30, "DER SEQUENCE");
    let (r, next) = integer(2);
    let (s, _) = integer(next);
    [r, s].concat()
}
