//! Shared set-up for the server's integration tests: a server on loopback ports, clients built
//! with the components' library, captured logs and scraped metrics.
#![allow(dead_code)]

use parking_lot::Mutex;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use repo_server::config::Tls;
use repo_server::{Config, Running};
use repo_tls::rustls::client::ResolvesClientCert;
use repo_tls::{Connector, FileIdentity, ServerTrust};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Logs of every test in this binary, as text.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

pub(crate) fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        repo_tls::install_provider();
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug,h2=info,hyper=info,tower=info,rustls=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
    .clone()
}

/// TLS settings pointing into `dir`: `tls.crt`/`tls.key` (self-signed if absent) and
/// `client-ca.crt` (TLS only if absent).
pub(crate) fn tls(dir: &Path) -> Tls {
    Tls {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        client_ca: Some(dir.join("client-ca.crt")),
        client_crl: Some(dir.join("client-crl.pem")),
        policy: repo_tls::Policy::default_policy(),
        client_auth_required: true,
    }
}

pub(crate) fn config(tls: Option<Tls>) -> Config {
    Config {
        grpc: "127.0.0.1:0".parse().unwrap(),
        http: "127.0.0.1:0".parse().unwrap(),
        tls,
        max_message_bytes: 4 << 20,
        max_connection_age: None,
        max_connection_age_grace: std::time::Duration::from_secs(1),
        authorization_policy: None,
        engine: engine(),
        log_format: repo_server::config::LogFormat::Text,
        log_level: repo_server::config::LogLevel::Debug,
        otlp: None,
        warnings: Vec::new(),
    }
}

/// Engine settings for tests: a private cache directory, file:// repositories allowed.
pub(crate) fn engine() -> repo_server::config::Engine {
    let dir = tempfile::Builder::new()
        .prefix("repo-server-test")
        .tempdir()
        .unwrap()
        .keep();
    repo_server::config::Engine {
        repo_cache_dir: dir,
        repo_cache_bytes: 1 << 30,
        manifest_cache_bytes: 64 << 20,
        allow_file: true,
        parallelism: 0,
        exec_timeout: std::time::Duration::from_secs(60),
        exec_fatal_timeout: std::time::Duration::from_secs(10),
        pause_after_failures: 3,
        pause_for: std::time::Duration::from_secs(3600),
        pause_for_requests: 0,
        manifests: Default::default(),
        expiry: Default::default(),
        git: Default::default(),
        fetch: Default::default(),
        gpg: Default::default(),
        redis: None,
        plugins: Default::default(),
    }
}

pub(crate) async fn start(tls: Option<Tls>) -> Running {
    logs();
    repo_server::start(config(tls))
        .await
        .expect("server starts")
}

/// A connector presenting `cert`/`key` (when given) and trusting as told.
pub(crate) fn connector(trust: ServerTrust, identity: Option<(PathBuf, PathBuf)>) -> Connector {
    let identity =
        identity.map(|(c, k)| Arc::new(FileIdentity::new(c, k)) as Arc<dyn ResolvesClientCert>);
    Connector::new(&trust, identity).unwrap()
}

/// Health/Check over a fresh connection, as upstream's components do per call.
pub(crate) async fn health(addr: SocketAddr, tls: Option<Connector>) -> Result<(), String> {
    let channel = repo_client::open(
        &addr.to_string(),
        tls,
        Some(std::time::Duration::from_secs(5)),
    )
    .await
    .map_err(|e| e.to_string())?;
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
        .map_err(|s| format!("{}: {}", s.code(), s.message()))
}

/// A plain HTTP/1.0 GET; returns (status, body).
pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the handshake-failure counter for `reason`.
pub(crate) async fn rejections(http: SocketAddr, reason: &str) -> u64 {
    let (_, body) = get(http, "/metrics").await;
    let key = format!("argocd_repo_server_tls_handshake_failures_total{{reason=\"{reason}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no series {key} in\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the counter for `reason` reaches `n` (handshakes finish asynchronously).
pub(crate) async fn expect_rejections(http: SocketAddr, reason: &str, n: u64) {
    for _ in 0..100 {
        if rejections(http, reason).await >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "counter {reason} never reached {n}: {}",
        rejections(http, reason).await
    );
}

/// The value of the series `series` (name and labels, as exposed) or `None` if absent.
pub(crate) async fn metric(http: SocketAddr, series: &str) -> Option<u64> {
    let (_, body) = get(http, "/metrics").await;
    let key = format!("{series} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map(|v| v.trim().parse().unwrap())
}

/// Waits until `series` reaches at least `n` and returns its value; panics after a minute.
pub(crate) async fn wait_metric(http: SocketAddr, series: &str, n: u64) -> u64 {
    for _ in 0..600 {
        let value = metric(http, series).await.unwrap_or(0);
        if value >= n {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{series} never reached {n}: {:?}",
        metric(http, series).await
    );
}

/// Writes a serving pair and `ca` as the client CA into `dir`: [`tls`] then requires client
/// certificates signed by `ca`.
pub(crate) fn mtls_files(dir: &Path, ca: &repo_testkit::Ca) {
    ca.issue(&repo_testkit::Leaf::server()).write(dir, "tls");
    std::fs::write(dir.join("client-ca.crt"), &ca.cert).unwrap();
}

/// Runs git in `dir` with a fixed identity and no system or user configuration; its trimmed
/// stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=Test Author",
            "-c",
            "user.email=author@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `body` to `file` under `root`, creating its directories.
pub(crate) fn write(root: &Path, file: &str, body: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}
