//! What the Helm repository tests run against: charts made by the real `helm` (`helm create`,
//! `helm package`, `helm repo index`), served by testkit's HTTPS server (certificate from a
//! private CA, Basic auth, request log), and a CONNECT proxy that counts the tunnels it opens.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use repo_fetch::{Event, Observer, Proxies, Settings};
use repo_testkit::served::Server;
use repo_testkit::{served, Ca, Helm, Leaf, Pair};
use rustls::ServerConfig;
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

/// helm; without it a test fails under CI=true and is skipped elsewhere.
pub(crate) fn helm() -> Option<PathBuf> {
    let [helm] = repo_testkit::tools(["helm"])?;
    Some(helm)
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
        let (work, repo) = (root.join("work"), root.join("repo"));
        for d in [&work, &repo] {
            std::fs::create_dir_all(d).unwrap();
        }
        let helm = Helm::new(helm);
        helm.run(&work, &["create", "mychart"]);
        for v in VERSIONS {
            helm.package(&work.join("mychart"), Some(v), &repo);
        }
        helm.index(&repo);
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
        served::trust(&self.ca, dir, hosts)
    }

    /// A server config; with `clients`, it requires a client certificate from that CA.
    pub(crate) fn config(&self, clients: Option<&Ca>) -> Arc<ServerConfig> {
        served::tls(&self.server, clients)
    }
}

/// A server of `root` (HTTPS with `tls`); with `auth`, only to [`AUTHORIZATION`] or the bearer
/// [`TOKEN`].
pub(crate) fn serve(root: &Path, tls: Option<Arc<ServerConfig>>, auth: bool) -> Server {
    let accepted = match auth {
        true => vec![AUTHORIZATION.to_string(), format!("Bearer {TOKEN}")],
        false => Vec::new(),
    };
    Server::start(root, tls, &accepted)
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
        user_agent: None,
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
