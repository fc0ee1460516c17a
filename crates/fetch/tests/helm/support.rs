//! What the Helm repository tests run against: charts made by the real `helm` (`helm create`,
//! `helm package`, `helm repo index`), an HTTPS server (hyper + tokio-rustls, certificate from a
//! private CA) that checks Basic auth and records every request, and a CONNECT proxy that
//! counts the tunnels it opens.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use repo_fetch::{Event, Observer, Proxies, Settings};
use repo_testkit::{Ca, Leaf, Pair};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "s3cret-pw";
/// `Basic base64("alice:s3cret-pw")`.
pub(crate) const AUTHORIZATION: &str = "Basic YWxpY2U6czNjcmV0LXB3";
pub(crate) const TOKEN: &str = "s3cret-token";
/// A host name only the test proxy resolves (to 127.0.0.1).
pub(crate) const PROXIED_HOST: &str = "charts.test";
pub(crate) const VERSIONS: [&str; 4] = ["1.0.0", "1.2.3", "1.5.0", "2.0.0-rc.1"];

/// `.tools/bin/helm`; without it a test fails under CI=true and is skipped elsewhere.
pub(crate) fn helm() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/helm");
    if bin.is_file() {
        return Some(bin);
    }
    let why = "helm was not found in .tools/bin; run scripts/install-tools";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipping: {why}");
    None
}

fn run(helm: &Path, home: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(helm)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", home)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory with `mychart` packaged at [`VERSIONS`] and its `index.yaml` (relative URLs),
/// made once per test process (in a directory of its own; those of finished runs are removed).
fn packaged(helm: &Path) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        const PREFIX: &str = "repo-fetch-helm-";
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let gone = name
                .strip_prefix(PREFIX)
                .is_some_and(|pid| !Path::new("/proc").join(pid).exists());
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let root = tmp.join(format!("{PREFIX}{}", std::process::id()));
        let (home, work, repo) = (root.join("home"), root.join("work"), root.join("repo"));
        for d in [&home, &work, &repo] {
            std::fs::create_dir_all(d).unwrap();
        }
        run(helm, &home, &work, &["create", "mychart"]);
        for v in VERSIONS {
            run(
                helm,
                &home,
                &work,
                &["package", "mychart", "--version", v, "-d"]
                    .into_iter()
                    .chain([repo.to_str().unwrap()])
                    .collect::<Vec<_>>(),
            );
        }
        run(helm, &home, &repo, &["repo", "index", "."]);
        repo
    })
}

/// A fresh copy of the packaged repository in `dir` (tests change theirs).
pub(crate) fn charts(helm: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("charts");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(packaged(helm)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
    }
    out
}

/// The test CA and a server certificate for 127.0.0.1, localhost and [`PROXIED_HOST`].
pub(crate) struct Pki {
    pub ca: Ca,
    pub server: Pair,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let ca = Ca::new("helm repository test CA");
        let mut leaf = Leaf::server();
        leaf.dns.push(PROXIED_HOST.into());
        let server = ca.issue(&leaf);
        Self { ca, server }
    }

    /// `ARGOCD_TLS_DATA_PATH` with the CA for `hosts`, as argocd-tls-certs-cm is mounted.
    pub(crate) fn trust(&self, dir: &Path, hosts: &[&str]) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        for host in hosts {
            std::fs::write(dir.join(host), &self.ca.cert).unwrap();
        }
        dir.to_path_buf()
    }

    /// A server config; with `clients`, it requires a client certificate from that CA.
    pub(crate) fn config(&self, clients: Option<&Ca>) -> Arc<ServerConfig> {
        let chain = CertificateDer::pem_slice_iter(self.server.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.server.key.as_bytes()).unwrap();
        let builder = ServerConfig::builder_with_provider(repo_tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match clients {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(ca.cert.as_bytes()).unwrap())
                    .unwrap();
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    repo_tls::provider(),
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        Arc::new(builder.with_single_cert(chain, key).unwrap())
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// Serves the files of a directory over HTTPS (or HTTP), to requests with [`AUTHORIZATION`]
/// (or the bearer [`TOKEN`]) when `basic` is set (else 401). For a file `<name>.redirect` it redirects `<name>` to the
/// URL that file holds.
pub(crate) struct Server {
    pub port: u16,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    /// Send bodies chunked, without a length.
    pub chunked: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

struct Served {
    root: PathBuf,
    basic: bool,
    hits: Arc<Mutex<Vec<Hit>>>,
    chunked: Arc<AtomicBool>,
}

impl Server {
    pub(crate) async fn start(root: &Path, tls: Option<Arc<ServerConfig>>, basic: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let chunked = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Served {
            root: root.to_path_buf(),
            basic,
            hits: hits.clone(),
            chunked: chunked.clone(),
        });
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (served, acceptor) = (served.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, served.clone()));
                    let http = http1::Builder::new();
                    let _ = match acceptor {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(tls) => http.serve_connection(TokioIo::new(tls), service).await,
                            Err(_) => return,
                        },
                        None => http.serve_connection(TokioIo::new(tcp), service).await,
                    };
                });
            }
        });
        Self {
            port,
            hits,
            chunked,
            task,
        }
    }

    /// The requests for `path` so far.
    pub(crate) fn hits(&self, path: &str) -> Vec<Hit> {
        let hits = self.hits.lock();
        hits.iter().filter(|h| h.path == path).cloned().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    req: Request<Incoming>,
    served: Arc<Served>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed = !served.basic
        || authorization.as_deref() == Some(AUTHORIZATION)
        || authorization.as_deref() == Some(&format!("Bearer {TOKEN}"));
    served.hits.lock().push(Hit {
        path: path.clone(),
        authorization,
    });
    let chunked = served.chunked.load(Ordering::SeqCst);
    let reply = |status: StatusCode, body: Vec<u8>| {
        let mut response = Response::builder().status(status);
        if chunked {
            response = response.header("transfer-encoding", "chunked");
        }
        Ok(response.body(Full::new(Bytes::from(body))).unwrap())
    };
    if !allowed {
        return reply(StatusCode::UNAUTHORIZED, Vec::new());
    }
    let name = path.trim_start_matches('/');
    if name.contains("..") {
        return reply(StatusCode::NOT_FOUND, Vec::new());
    }
    let redirect = served.root.join(format!("{name}.redirect"));
    if let Ok(target) = tokio::fs::read_to_string(redirect).await {
        return Ok(Response::builder()
            .status(StatusCode::FOUND)
            .header("location", target.trim())
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    match tokio::fs::read(served.root.join(name)).await {
        Ok(body) => reply(StatusCode::OK, body),
        Err(_) => reply(StatusCode::NOT_FOUND, Vec::new()),
    }
}

/// A CONNECT proxy that tunnels to 127.0.0.1 whatever host is asked, recording the targets.
pub(crate) struct Proxy {
    pub port: u16,
    pub tunnels: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, seen.clone()));
            }
        });
        Self {
            port,
            tunnels,
            task,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tunnel(mut client: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
    else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await;
        return;
    };
    seen.lock().push(target.to_string());
    let port = target.rsplit(':').next().unwrap_or("443");
    let Ok(mut upstream) = TcpStream::connect(format!("127.0.0.1:{port}")).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// Settings for a fetcher storing under `dir`, trusting the CAs in `tls`; every event is
/// appended to `events`.
pub(crate) fn settings(dir: &Path, tls: &Path, events: &Arc<Mutex<Vec<Event>>>) -> Settings {
    let events = events.clone();
    Settings {
        dir: dir.join("store"),
        budget_bytes: 1 << 30,
        index_ttl: Duration::from_secs(3600),
        max_index_bytes: 1 << 20,
        max_archive_bytes: 1 << 24,
        tls_data_path: tls.to_path_buf(),
        oci_media_types: Vec::new(),
        timeout: Duration::from_secs(30),
        proxies: Proxies::default(),
        observer: Some(Observer::new(move |e| events.lock().push(e.clone()))),
    }
}

/// What is in the store's directories (blobs and temp files), sorted.
pub(crate) fn stored(settings: &Settings) -> Vec<String> {
    let mut names: Vec<String> = ["sha256", "tmp"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(settings.dir.join(d))
                .into_iter()
                .flatten()
        })
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
