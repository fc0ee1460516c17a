//! Tenant isolation between repositories, end to end against the real binary: a kustomization
//! in one repository (the attacker's) names the cached snapshot of another (the victim's) as a
//! base. Kustomize loads base directories from anywhere, whatever the load restrictor, so
//! only the server can stop it: the snapshot's path is not derivable from the cache layout,
//! and where the kernel has Landlock a tool reads nothing but its own render's files, even
//! given the victim's real path.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use repo_client::RepoServerServiceClient;
use repo_proto::repository::{ManifestRequest, ManifestResponse};
use repo_proto::v1alpha1::{ApplicationSource, Repository};
use serde_json::Value;
use sha2::{Digest, Sha256};

const SECRET_NAME: &str = "victim-db";
const PASSWORD: &str = "dmljdGltLXBhc3N3b3Jk";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomize_base_cannot_read_another_repositorys_snapshot() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (victim, victim_sha) = repository(
        dir.path(),
        "victim",
        &[
            ("app/kustomization.yaml", "resources:\n- secret.yaml\n"),
            (
                "app/secret.yaml",
                &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {SECRET_NAME}\ndata:\n  password: {PASSWORD}\n"),
            ),
        ],
    );
    let server = Server::start(&cache, &tools);
    let mut client = server.client().await;

    // The victim's own render puts its snapshot in the cache.
    let own = client.generate_manifest(request(&victim, "app")).await;
    let own = own.expect("the victim's app renders").into_inner();
    assert!(own.manifests.concat().contains(SECRET_NAME));

    // The attacker computes the snapshot's path from the cache layout: the hex SHA-256 of the
    // normalized URL (a file:// URL without `.git` or a trailing slash is its own key), and
    // names it absolutely (older kustomize) or relative to its own snapshot's app directory.
    let id = hex::encode(Sha256::digest(victim.as_bytes()));
    let snapshots = cache.join("git/snapshots");
    let computed = snapshots.join(&id).join(&victim_sha).join("app");
    let relative = format!("../../../{id}/{victim_sha}/app");
    let (attacker, _) = repository(
        dir.path(),
        "attacker",
        &[
            (
                "abs/kustomization.yaml",
                &base(&computed.display().to_string()),
            ),
            ("rel/kustomization.yaml", &base(&relative)),
        ],
    );
    for app in ["abs", "rel"] {
        let stolen = client.generate_manifest(request(&attacker, app)).await;
        assert_refused(stolen, &format!("a base at the computed path ({app})"));
    }
    assert!(
        !computed.exists(),
        "the victim's snapshot is at the path computed from the cache layout"
    );

    // Whatever leaks the real path, Landlock keeps the tool from reading it.
    let logged = server.sandbox();
    if !logged.contains("Landlock ABI") {
        // Only the kernel's answer may turn it off (its reasons name Landlock), never a
        // launcher that did not run.
        assert!(
            logged.contains("Landlock"),
            "the sandbox launcher did not answer: {logged}"
        );
        eprintln!("skipping the leaked-path case: {logged}");
        return;
    }
    let id = snapshot_of(&cache, &victim_sha)
        .parent()
        .unwrap()
        .to_path_buf();
    let relative = format!(
        "../../../{}/{victim_sha}/app",
        id.file_name().unwrap().to_string_lossy()
    );
    let (leaked, leaked_sha) = repository(
        dir.path(),
        "leaked",
        &[("app/kustomization.yaml", &base(&relative))],
    );
    let stolen = client.generate_manifest(request(&leaked, "app")).await;
    assert_refused(stolen, "a base at the victim's real snapshot path");
    // The path was right: from the attacker's snapshot it leads to the victim's app.
    let own = snapshot_of(&cache, &leaked_sha).join("app");
    assert!(own.join(&relative).join("secret.yaml").is_file());
}

fn base(path: &str) -> String {
    format!("resources:\n- {path}\n")
}

/// The render failed and revealed nothing of the victim's Secret; returns the message.
fn assert_refused(
    got: Result<tonic::Response<ManifestResponse>, tonic::Status>,
    case: &str,
) -> String {
    match got {
        Ok(response) => {
            let text = response.into_inner().manifests.concat();
            panic!(
                "{case}: the attacker's app rendered ({} revealed): {text}",
                text.contains(SECRET_NAME)
            )
        }
        Err(status) => {
            let message = status.message().to_string();
            assert!(
                !message.contains(PASSWORD) && !message.contains(SECRET_NAME),
                "{case}: the error reveals the Secret: {message}"
            );
            message
        }
    }
}

/// The one snapshot of commit `sha` in the cache, found by listing it (as a leak would tell).
fn snapshot_of(cache: &Path, sha: &str) -> PathBuf {
    let snapshots = cache.join("git/snapshots");
    let found: Vec<PathBuf> = walk(&snapshots)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == sha) && p.is_dir())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() && out.len() < 10_000 {
            out.push(path.clone());
            if path.components().count() < dir.components().count() + 3 {
                out.extend(walk(&path));
            }
        }
    }
    out
}

/// `.tools/bin` for kustomize; without it the test fails under CI=true and is skipped
/// elsewhere.
fn tools() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin");
    if bin.join("kustomize").is_file() {
        return Some(bin);
    }
    let why = "kustomize was not found in .tools/bin; run scripts/install-tools";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipping: {why}");
    None
}

/// A git repository `name` under `dir` with `files` committed; its file:// URL and commit.
fn repository(dir: &Path, name: &str, files: &[(&str, &str)]) -> (String, String) {
    let repo = dir.join(name);
    for (file, body) in files {
        let path = repo.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    (format!("file://{}", repo.display()), sha)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn request(url: &str, path: &str) -> ManifestRequest {
    ManifestRequest {
        repo: Some(Repository {
            repo: Some(url.to_string()),
            r#type: Some("git".into()),
            ..Default::default()
        }),
        revision: "main".into(),
        app_name: "app".into(),
        namespace: "default".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.to_string()),
            path: Some(path.to_string()),
            target_revision: Some("main".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The binary serving plaintext gRPC on a loopback port; killed when dropped.
struct Server {
    child: Child,
    grpc: String,
    /// Log lines up to "serving on".
    lines: Vec<Value>,
}

impl Server {
    fn start(cache: &Path, tools: &Path) -> Self {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(tools.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_argocd-repo-server"))
            .args(["--port=0", "--metrics-port=0", "--address=127.0.0.1"])
            .args([
                "--metrics-address=127.0.0.1",
                "--disable-tls",
                "--logformat=json",
            ])
            .args(["--allow-file-repos"])
            .env_clear()
            .env("PATH", path)
            .env("ARGOCD_REPO_SERVER_REPO_CACHE_DIR", cache)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut lines = Vec::new();
        let mut grpc = None;
        let mut line = String::new();
        while grpc.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
            let value: Value = serde_json::from_str(&line).unwrap_or(Value::String(line.clone()));
            grpc = value["grpc"].as_str().map(str::to_string);
            lines.push(value);
            line.clear();
        }
        // Keep draining so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let grpc = grpc.unwrap_or_else(|| panic!("the server did not start: {lines:?}"));
        Self { child, grpc, lines }
    }

    async fn client(&self) -> RepoServerServiceClient<tonic::transport::Channel> {
        let channel = repo_client::open(&self.grpc, None, None).await.unwrap();
        RepoServerServiceClient::new(channel)
    }

    /// What the server logged at start about the tool sandbox.
    fn sandbox(&self) -> String {
        self.lines
            .iter()
            .filter_map(|l| l["msg"].as_str())
            .find(|m| m.starts_with("tool sandbox"))
            .unwrap_or_else(|| panic!("no \"tool sandbox\" line at start: {:?}", self.lines))
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
