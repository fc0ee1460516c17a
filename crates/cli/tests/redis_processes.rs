//! Two `argocd-repo-server` processes sharing Debian's `redis-server`, started as upstream's
//! flags start them: an app rendered by one is served by the other without a render, and a
//! replica killed (SIGKILL) and started again with an empty cache directory starts warm. The
//! test chart puts a random nonce in every render, so equal nonces mean one render.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use repo_client::RepoServerServiceClient;
use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{ApplicationSource, Repository};

const CHART: &[(&str, &str)] = &[
    ("chart/Chart.yaml", "apiVersion: v2\nname: nonce\nversion: 0.1.0\n"),
    (
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nonce\ndata:\n  nonce: {{ randAlphaNum 32 | quote }}\n",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_renders_and_a_killed_one_restarts_warm() {
    let Some((redis_server, tools)) = programs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&redis_server, dir.path());
    let url = repository(dir.path());
    let address = format!("127.0.0.1:{}", redis.port);
    let one = Server::start(&tools, &dir.path().join("one"), &address);
    let two = Server::start(&tools, &dir.path().join("two"), &address);
    let first = one.nonce(&url).await;
    assert_eq!(one.nonce(&url).await, first);
    assert_eq!(
        two.nonce(&url).await,
        first,
        "the second replica rendered again"
    );
    drop(one);
    // A new pod: empty cache directory, empty memory.
    let again = Server::start(&tools, &dir.path().join("one-again"), &address);
    assert_eq!(again.nonce(&url).await, first, "started cold");
    drop(redis);
    // Redis gone: still served, rendered anew by the replica.
    assert_ne!(
        two.nonce_of(&url, "other").await,
        again.nonce_of(&url, "other").await
    );
}

/// `redis-server` (PATH) and `.tools/bin` (helm); without them the test fails under CI=true
/// and is skipped elsewhere.
fn programs() -> Option<(PathBuf, PathBuf)> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let redis = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file());
    match (redis, tools.join("helm").is_file()) {
        (Some(redis), true) => Some((redis, tools)),
        _ => {
            let why = "redis-server or .tools/bin/helm was not found; run scripts/install-tools";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipping: {why}");
            None
        }
    }
}

/// A chart repository with one commit on `main`; its file:// URL.
fn repository(dir: &Path) -> String {
    let repo = dir.join("repo");
    for (file, body) in CHART {
        let path = repo.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "chart",
        ],
    ] {
        let status = Command::new("git")
            .current_dir(&repo)
            .env("HOME", &repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    format!("file://{}", repo.display())
}

/// `redis-server` on a free loopback port, in its own process group, killed when dropped.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    fn start(bin: &Path, dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { port, child }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary serving plaintext gRPC on a loopback port with `--redis`; killed (SIGKILL)
/// when dropped.
struct Server {
    child: Child,
    grpc: String,
}

impl Server {
    fn start(tools: &Path, cache: &Path, redis: &str) -> Self {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(tools.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_argocd-repo-server"))
            .args(["--port=0", "--metrics-port=0", "--address=127.0.0.1"])
            .args(["--metrics-address=127.0.0.1", "--disable-tls"])
            .args(["--logformat=json", "--allow-file-repos", "--redis", redis])
            .env_clear()
            .env("PATH", path)
            .env("ARGOCD_REPO_SERVER_REPO_CACHE_DIR", cache)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let (mut grpc, mut lines, mut line) = (None, Vec::new(), String::new());
        while grpc.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            grpc = value["grpc"].as_str().map(str::to_string);
            lines.push(std::mem::take(&mut line));
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let grpc = grpc.unwrap_or_else(|| panic!("the server did not start: {lines:?}"));
        Self { child, grpc }
    }

    async fn nonce(&self, url: &str) -> String {
        self.nonce_of(url, "app").await
    }

    /// The nonce of `app` rendered from the chart at `url`.
    async fn nonce_of(&self, url: &str, app: &str) -> String {
        let channel = repo_client::open(&self.grpc, None, None).await.unwrap();
        let request = ManifestRequest {
            repo: Some(Repository {
                repo: Some(url.to_string()),
                r#type: Some("git".into()),
                ..Default::default()
            }),
            revision: "main".into(),
            app_name: app.into(),
            namespace: "default".into(),
            application_source: Some(ApplicationSource {
                repo_url: Some(url.to_string()),
                path: Some("chart".into()),
                target_revision: Some("main".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = RepoServerServiceClient::new(channel)
            .generate_manifest(request)
            .await
            .unwrap_or_else(|s| panic!("GenerateManifest: {s:?}"))
            .into_inner();
        let manifest: serde_json::Value = serde_json::from_str(&response.manifests[0]).unwrap();
        manifest["data"]["nonce"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
