//! Remote Helm value files (`https://…` in `helm.valueFiles` when `helmOptions` allows the
//! scheme): fetched here, capped in size and time, and handed to helm as a local file.
//!
//! Nothing of the app's repository goes with the request: no credentials, no client
//! certificate. Only what the URL itself carries (userinfo) is sent, as Basic auth, and only
//! to that host and scheme (never over http after https). Redirects are
//! followed, at most 10, as Go does; the server's certificate is verified against the system
//! roots.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use repo_render::Error;
use repo_tls::rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::engine::charts::{send, trust};

/// Largest remote value file accepted.
pub(super) const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Time allowed for one remote value file, redirects included.
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
const REDIRECTS: usize = 10;

/// The fetcher the engine gives every render.
#[derive(Debug)]
pub(super) struct Remote;

impl repo_render::Fetch for Remote {
    fn fetch<'a>(
        &'a self,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, Error>> + Send + 'a>> {
        Box::pin(async move {
            let shown = repo_source::display(url);
            let fail = |message: String| Error::Remote {
                url: shown.clone(),
                message,
            };
            match tokio::time::timeout(TIMEOUT, get(url, &fail)).await {
                Ok(result) => result,
                Err(_) => Err(fail(format!("no answer within {TIMEOUT:?}"))),
            }
        })
    }
}

/// GETs `url`, following redirects.
async fn get(url: &str, fail: &(dyn Fn(String) -> Error + Sync)) -> Result<Vec<u8>, Error> {
    let first: http::Uri = url.parse().map_err(|e| fail(format!("not a URL: {e}")))?;
    let mut uri = first.clone();
    let userinfo = repo_source::Remote::parse(url)
        .ok()
        .and_then(|r| r.userinfo);
    for _ in 0..=REDIRECTS {
        let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(fail(format!("{scheme}: only http and https are fetched")));
        }
        let authority = uri.authority().ok_or_else(|| fail("no host".into()))?;
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, h)| h);
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let mut request = http::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, host_port)
            .header(http::header::USER_AGENT, "argocd-repo-server");
        // The URL's own userinfo, and only to the host it names, never downgraded to http.
        let same_origin = first.host() == uri.host() && first.scheme() == uri.scheme();
        if let Some((user, password)) = userinfo.as_ref().filter(|_| same_origin) {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request = request.header(http::header::AUTHORIZATION, format!("Basic {token}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail(e.to_string()))?;
        let unreachable = |e: &dyn std::fmt::Display| fail(format!("unreachable: {e}"));
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unreachable(&e))?;
        let response = if scheme == "https" {
            let name = ServerName::try_from(host.clone()).map_err(|e| fail(e.to_string()))?;
            let config = trust(false).map_err(|e| fail(e.to_string()))?;
            let tls = repo_tls::tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(&e))?;
            send(TokioIo::new(tls), request).await
        } else {
            send(TokioIo::new(tcp), request).await
        }
        .map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| fail(format!("HTTP {status} without a location")))?;
            uri = next(&uri, location).map_err(|e| fail(format!("redirect: {e}")))?;
            continue;
        }
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        let body = Limited::new(response.into_body(), MAX_BYTES)
            .collect()
            .await
            .map_err(|_| Error::TooLarge {
                what: format!("remote value file {}", repo_source::display(url)),
                limit: MAX_BYTES as u64,
            })?;
        return Ok(body.to_bytes().to_vec());
    }
    Err(fail(format!("more than {REDIRECTS} redirects")))
}

/// The URL a redirect's `Location` names, relative to `from`.
fn next(from: &http::Uri, location: &str) -> Result<http::Uri, http::Error> {
    let target: http::Uri = location.parse()?;
    if target.scheme().is_some() {
        return Ok(target);
    }
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let base = from.path();
        format!("{}{location}", &base[..=base.rfind('/').unwrap_or(0)])
    };
    let mut parts = from.clone().into_parts();
    parts.path_and_query = Some(path.parse()?);
    Ok(http::Uri::from_parts(parts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_current_url() {
        let from: http::Uri = "https://h.example/a/b.yaml?x=1".parse().unwrap();
        assert_eq!(next(&from, "c.yaml").unwrap(), "https://h.example/a/c.yaml");
        assert_eq!(next(&from, "/d.yaml").unwrap(), "https://h.example/d.yaml");
        assert_eq!(
            next(&from, "http://o.example/e.yaml").unwrap(),
            "http://o.example/e.yaml"
        );
    }
}
