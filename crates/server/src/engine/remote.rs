//! Remote Helm value files (`https://…` in `helm.valueFiles` when `helmOptions` allows the
//! scheme): fetched here, capped in size and time, and handed to helm as a local file.
//!
//! Nothing of the app's repository goes with the request: no credentials, no client
//! certificate. Only what the URL itself carries (userinfo) is sent, as Basic auth, and reqwest
//! drops it on a redirect to another host, port or scheme (so never over http after https).
//! Redirects are followed, at most 10, as Go does; the server's certificate is verified
//! against the platform's roots.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use repo_render::Error;

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

/// One client for every value file: connections and the platform's roots are reused.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(REDIRECTS))
        .user_agent("argocd-repo-server")
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(CLIENT.get_or_init(|| client))
}

/// GETs `url`, following redirects.
async fn get(url: &str, fail: &(dyn Fn(String) -> Error + Sync)) -> Result<Vec<u8>, Error> {
    let parsed = reqwest::Url::parse(url).map_err(|e| fail(format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail(format!(
            "{}: only http and https are fetched",
            parsed.scheme()
        )));
    }
    let response = client()
        .map_err(&fail)?
        .get(parsed)
        .send()
        .await
        // reqwest's message names the URL; the shown one has no userinfo.
        .map_err(|e| fail(unreachable(e)))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(fail(format!("more than {REDIRECTS} redirects")));
    }
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(unreachable(e)))?;
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(Error::TooLarge {
                what: format!("remote value file {}", repo_source::display(url)),
                limit: MAX_BYTES as u64,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a request failed, without the URL (reqwest names it, userinfo included).
fn unreachable(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = match &e {
        e if e.is_redirect() => format!("more than {REDIRECTS} redirects"),
        e if e.is_timeout() => "timed out".to_string(),
        e => format!("unreachable: {e}"),
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    repo_source::userinfo(&text)
}
