//! Smart HTTP: a small hyper server that checks Basic (or Bearer) credentials and runs
//! `git http-backend` as a CGI program. It counts ref advertisements (`GET …/info/refs`).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Lfs;

pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "correct-horse-battery";
pub(crate) const TOKEN: &str = "bearer-token-1234";

/// Decides a Basic user and password instead of [`USER`]/[`PASSWORD`] and [`TOKEN`].
pub(crate) type Check = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

pub(crate) struct Http {
    pub port: u16,
    /// Ref advertisements served (one per ls-remote or fetch).
    pub adverts: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

struct Config {
    root: PathBuf,
    backend: PathBuf,
    adverts: Arc<AtomicUsize>,
    /// Answers the Git LFS paths, when given.
    lfs: Option<Arc<Lfs>>,
    check: Option<Check>,
}

impl Http {
    /// `None` (a skip) when this git has no http-backend.
    pub(crate) async fn start(root: &Path) -> Option<Self> {
        Self::serve(root, None, None).await
    }

    /// [`Http::start`], accepting only the Basic credentials `check` accepts.
    pub(crate) async fn with_check(root: &Path, check: Check) -> Option<Self> {
        Self::serve(root, None, Some(check)).await
    }

    /// [`Http::start`], with a Git LFS server on the same origin.
    pub(crate) async fn with_lfs(root: &Path, lfs: Arc<Lfs>) -> Option<Self> {
        Self::serve(root, Some(lfs), None).await
    }

    async fn serve(root: &Path, lfs: Option<Arc<Lfs>>, check: Option<Check>) -> Option<Self> {
        let exec_path = super::fixture::run(std::process::Command::new("git").arg("--exec-path"));
        let backend = Path::new(&exec_path).join("git-http-backend");
        if !super::available(backend.exists(), "git http-backend is not installed") {
            return None;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let adverts = Arc::new(AtomicUsize::new(0));
        let config = Arc::new(Config {
            root: root.to_path_buf(),
            backend,
            adverts: adverts.clone(),
            lfs,
            check,
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let config = config.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, config.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Some(Self {
            port,
            adverts,
            task,
        })
    }

    pub(crate) fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn authorized(req: &Request<Incoming>, check: Option<&Check>) -> Option<&'static str> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    if let Some(check) = check {
        let basic = STANDARD.decode(header.strip_prefix("Basic ")?).ok()?;
        let basic = String::from_utf8(basic).ok()?;
        let (user, password) = basic.split_once(':')?;
        return check(user, password).then_some("checked");
    }
    if header == format!("Bearer {TOKEN}") {
        return Some("bearer");
    }
    let basic = STANDARD.decode(header.strip_prefix("Basic ")?).ok()?;
    (basic == format!("{USER}:{PASSWORD}").as_bytes()).then_some(USER)
}

async fn handle(
    req: Request<Incoming>,
    config: Arc<Config>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(lfs) = config
        .lfs
        .as_ref()
        .filter(|_| Lfs::handles(req.uri().path()))
    {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Ok(lfs.handle(parts.uri.path(), &parts.headers, &body));
    }
    let Some(user) = authorized(&req, config.check.as_ref()) else {
        return Ok(Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Full::new(Bytes::new()))
            .unwrap());
    };
    if req.method() == hyper::Method::GET && req.uri().path().ends_with("/info/refs") {
        config.adverts.fetch_add(1, Ordering::SeqCst);
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let env = [
        ("GIT_PROJECT_ROOT", config.root.display().to_string()),
        ("GIT_HTTP_EXPORT_ALL", "1".into()),
        ("REQUEST_METHOD", req.method().to_string()),
        ("PATH_INFO", req.uri().path().to_string()),
        ("QUERY_STRING", req.uri().query().unwrap_or("").to_string()),
        ("CONTENT_TYPE", header("content-type")),
        ("HTTP_CONTENT_ENCODING", header("content-encoding")),
        ("GIT_PROTOCOL", header("git-protocol")),
        ("REMOTE_USER", user.to_string()),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
    ];
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let body = body.unwrap_or_default();
    let mut child = tokio::process::Command::new(&config.backend)
        .env_clear()
        .envs(env)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend");
    let mut stdin = child.stdin.take().unwrap();
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.expect("http-backend output");
    let _ = feed.await;
    Ok(cgi_response(&out.stdout))
}

/// A CGI reply: header lines (with `Status:`), a blank line, the body.
fn cgi_response(out: &[u8]) -> Response<Full<Bytes>> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap_or((out.len(), out.len()));
    let head = String::from_utf8_lossy(&out[..split.0]);
    let mut response = Response::builder();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("500");
            response = response.status(code.parse::<u16>().unwrap_or(500));
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(Full::new(Bytes::copy_from_slice(&out[split.1..])))
        .unwrap()
}
