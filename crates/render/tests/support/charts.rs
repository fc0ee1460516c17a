//! A private Helm chart repository for tests: `dep` 0.1.0 made with the real `helm package` +
//! `helm repo index`, served with Basic auth over whatever stream `accept` makes of a
//! connection (plain HTTP, or TLS). Shared with the server's tests through `#[path]`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The user and password the repository accepts.
pub(crate) const USER: &str = "helm";
pub(crate) const PASSWORD: &str = "s3cret-pw";
/// `base64("helm:s3cret-pw")`.
const AUTHORIZATION: &str = "Basic aGVsbTpzM2NyZXQtcHc=";

/// A repository being served.
pub(crate) struct Served {
    /// `<scheme>://127.0.0.1:<port>/charts`
    pub url: String,
    /// Files served so far (the index, chart archives).
    pub files: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

/// Serves the repository on a loopback port as `scheme`, `accept` turning each connection into
/// the stream spoken over; `helm` makes the chart.
pub(crate) async fn serve<S, F, Fut>(helm: &Path, scheme: &str, accept: F) -> Served
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::io::Result<S>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("{scheme}://{}/charts", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let charts = package(helm, dir.path(), &url);
    let files = Arc::new(AtomicUsize::new(0));
    let count = files.clone();
    let accept = Arc::new(accept);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (charts, count, accept) = (charts.clone(), count.clone(), accept.clone());
            tokio::spawn(async move {
                if let Ok(stream) = accept(tcp).await {
                    answer(stream, &charts, &count).await;
                }
            });
        }
    });
    Served {
        url,
        files,
        _dir: dir,
    }
}

/// One request: a file of `charts` to the authorized, else 401 or 404.
async fn answer(mut s: impl AsyncRead + AsyncWrite + Unpin, charts: &Path, count: &AtomicUsize) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let authorized = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("authorization") && value.trim() == AUTHORIZATION
        })
    });
    let file = head
        .split(' ')
        .nth(1)
        .and_then(|p| p.strip_prefix("/charts/"))
        .filter(|f| !f.contains('/') && !f.starts_with('.'))
        .and_then(|f| std::fs::read(charts.join(f)).ok());
    let (status, body) = match (authorized, file) {
        (false, _) => ("401 Unauthorized", Vec::new()),
        (true, Some(body)) => {
            count.fetch_add(1, Ordering::SeqCst);
            ("200 OK", body)
        }
        (true, None) => ("404 Not Found", Vec::new()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(reply.as_bytes()).await;
    let _ = s.write_all(&body).await;
    let _ = s.shutdown().await;
}

/// `dep` 0.1.0 (one ConfigMap `from-private`) packaged into `dir/charts`, indexed for `url`.
fn package(helm: &Path, dir: &Path, url: &str) -> PathBuf {
    let src = dir.join("src/dep");
    std::fs::create_dir_all(src.join("templates")).unwrap();
    std::fs::write(
        src.join("Chart.yaml"),
        "apiVersion: v2\nname: dep\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        src.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-private\n",
    )
    .unwrap();
    let charts = dir.join("charts");
    let home = dir.join("home");
    let run = |args: &[&str]| {
        let out = Command::new(helm)
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .output()
            .unwrap();
        assert!(out.status.success(), "helm {args:?}: {out:?}");
    };
    let (src, out) = (src.to_str().unwrap(), charts.to_str().unwrap());
    run(&["package", src, "-d", out]);
    run(&["repo", "index", out, "--url", url]);
    charts
}

/// A chart `app` (one ConfigMap `top`) depending on `dep` 0.1.0 from `repository`.
pub(crate) fn app(repository: &str) -> [(&'static str, String); 2] {
    [
        (
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: dep\n  \
                 version: 0.1.0\n  repository: \"{repository}\"\n"
            ),
        ),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\n".to_string(),
        ),
    ]
}
