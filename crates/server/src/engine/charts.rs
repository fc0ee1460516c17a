//! GetHelmCharts: the charts and versions a Helm repository's `index.yaml` lists.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use repo_tls::rustls::pki_types::ServerName;
use repo_tls::rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;
use tokio::net::TcpStream;

/// Upstream's `--helm-registry-max-index-size` is 1 GiB; an index that size would not fit the
/// memory this server aims for, so the cap is lower.
const MAX_INDEX_BYTES: usize = 256 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    version: String,
}

/// Why a Helm repository's index could not be listed; each message names the repository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Unusable(String),
    #[error("{0}")]
    Internal(String),
}

/// A chart of the index and its versions, in index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chart {
    pub name: String,
    pub versions: Vec<String>,
}

/// Credentials and options of the Helm repository.
pub(crate) struct Access<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub insecure: bool,
}

/// The system's CA roots, read once: a Helm repository listing must not reread the trust
/// store on every call.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            Arc::new(roots)
        })
        .clone()
}

pub(super) fn trust(insecure: bool) -> Result<Arc<ClientConfig>, Error> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(e.to_string());
    let mut config = if insecure {
        // `insecure` on a repository means what it means upstream: skip server verification
        // (handshake signatures are still checked).
        let connector = repo_tls::Connector::new(&repo_tls::ServerTrust::Insecure, None)
            .map_err(|e| internal(&e))?;
        (*connector.config()).clone()
    } else {
        ClientConfig::builder_with_provider(repo_tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| internal(&e))?
            .with_root_certificates(system_roots())
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn base64(input: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// Fetches `<url>/index.yaml` and lists its charts, names sorted, versions in index order.
pub(crate) async fn list(url: &str, access: Access<'_>) -> Result<Vec<Chart>, Error> {
    let clean = repo_git::display(url);
    let index_url = format!("{}/index.yaml", url.trim_end_matches('/'));
    let uri: http::Uri = index_url
        .parse()
        .map_err(|e| Error::Invalid(format!("{clean}: not a Helm repository URL: {e}")))?;
    let scheme = uri.scheme_str().unwrap_or_default().to_string();
    if scheme != "https" && scheme != "http" {
        return Err(Error::Invalid(format!(
            "{clean}: Helm repositories are served over http or https"
        )));
    }
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let unavailable =
        |e: &dyn std::fmt::Display| Error::Unavailable(format!("{clean}: unreachable: {e}"));
    let fetch = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unavailable(&e))?;
        let mut request =
            http::Request::get(uri.path_and_query().map_or("/index.yaml", |p| p.as_str()))
                // Never the URL's userinfo, which may hold a password.
                .header(
                    http::header::HOST,
                    uri.authority().map_or(host.as_str(), |a| {
                        a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, h)| h)
                    }),
                )
                .header(http::header::USER_AGENT, "argocd-repo-server");
        if !access.username.is_empty() || !access.password.is_empty() {
            let token = base64(format!("{}:{}", access.username, access.password).as_bytes());
            request = request.header(http::header::AUTHORIZATION, format!("Basic {token}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let response = if scheme == "https" {
            let name =
                ServerName::try_from(host.clone()).map_err(|e| Error::Invalid(e.to_string()))?;
            let tls = repo_tls::tokio_rustls::TlsConnector::from(trust(access.insecure)?)
                .connect(name, tcp)
                .await
                .map_err(|e| unavailable(&e))?;
            send(TokioIo::new(tls), request).await?
        } else {
            send(TokioIo::new(tcp), request).await?
        };
        match response.status() {
            s if s.is_success() => {}
            s if s == http::StatusCode::UNAUTHORIZED || s == http::StatusCode::FORBIDDEN => {
                return Err(Error::Unauthenticated(format!(
                    "{clean}: authentication failed ({s})"
                )));
            }
            s if s == http::StatusCode::NOT_FOUND => {
                return Err(Error::NotFound(format!(
                    "{clean}: no index.yaml (404); is this a Helm repository?"
                )));
            }
            s => return Err(unavailable(&format!("HTTP {s}"))),
        }
        let body = Limited::new(response.into_body(), MAX_INDEX_BYTES)
            .collect()
            .await
            .map_err(|e| Error::TooLarge(format!("{clean}: index.yaml: {e}")))?
            .to_bytes();
        Ok::<_, Error>(body)
    };
    let body = tokio::time::timeout(TIMEOUT, fetch)
        .await
        .map_err(|_| Error::Timeout(format!("{clean}: no index.yaml within {TIMEOUT:?}")))??;
    let text = std::str::from_utf8(&body)
        .map_err(|_| Error::Unusable(format!("{clean}: index.yaml is not UTF-8")))?;
    let index: Index = serde_saphyr::from_str(text)
        .map_err(|e| Error::Unusable(format!("{clean}: index.yaml: {e}")))?;
    Ok(index
        .entries
        .into_iter()
        .map(|(name, entries)| Chart {
            name,
            versions: entries.into_iter().map(|e| e.version).collect(),
        })
        .collect())
}

pub(super) async fn send<IO>(
    io: IO,
    request: http::Request<Empty<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, Error>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Error::Unavailable(format!("HTTP handshake: {e}")))?;
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| Error::Unavailable(format!("HTTP request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_index() {
        let index: Index = serde_saphyr::from_str(
            "apiVersion: v1\nentries:\n  web:\n  - version: 1.2.0\n  - version: 1.1.0\n  db:\n  - version: 0.1.0\n",
        )
        .unwrap();
        assert_eq!(index.entries.keys().collect::<Vec<_>>(), ["db", "web"]);
        assert_eq!(index.entries["web"][0].version, "1.2.0");
    }
}
