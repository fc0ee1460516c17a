//! Repositories built in a test (file://, allowed in tests), the tools a render needs, and a
//! controller-identity client over mTLS. Included with `#[path]` by the tests that render.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use repo_client::RepoServerServiceClient;
use repo_proto::v1alpha1::Repository;
use repo_testkit::{Ca, Leaf};
use repo_tls::ServerTrust;
use tonic::transport::Channel;

use super::support::{connector, tls};

pub(crate) use super::support::{git, write};

/// A repository `name` under `dir` holding `files`, committed on `main`; its file:// URL.
pub(crate) fn repository(dir: &Path, name: &str, files: &[(&str, &str)]) -> (PathBuf, String) {
    let repo = dir.join(name);
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    commit(&repo, files);
    let url = format!("file://{}", repo.display());
    (repo, url)
}

/// Writes `files` and commits them; returns the new commit.
pub(crate) fn commit(repo: &Path, files: &[(&str, &str)]) -> String {
    for (file, body) in files {
        write(repo, file, body);
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "change"]);
    git(repo, &["rev-parse", "HEAD"])
}

pub(crate) fn repo_message(url: &str) -> Option<Repository> {
    Some(Repository {
        repo: Some(url.to_string()),
        r#type: Some("git".into()),
        ..Default::default()
    })
}

/// Makes `tool` (from `.tools/bin`, else `PATH`) the one the server runs, through its
/// `<TOOL>_BIN` variable. Without it the test fails in CI (`CI=true`) and is skipped elsewhere.
pub(crate) fn tool(tool: &str) -> bool {
    let var = format!("{}_BIN", tool.to_uppercase());
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/bin")
        .join(tool);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::iter::once(bin)
        .chain(std::env::split_paths(&path).map(|d| d.join(tool)))
        .find(|p| p.is_file());
    match found {
        Some(found) => {
            // Set before any server starts; every test sets the same value.
            std::env::set_var(&var, found);
            true
        }
        None => {
            let why = format!("{tool} was not found (.tools/bin, PATH); run scripts/install-tools");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipping: {why}");
            false
        }
    }
}

/// A server with mTLS and a client with the application controller's identity.
pub(crate) async fn client(dir: &Path) -> (repo_server::Running, RepoServerServiceClient<Channel>) {
    client_with(dir, super::support::engine()).await
}

/// [`client`] with these engine settings.
pub(crate) async fn client_with(
    dir: &Path,
    engine: repo_server::config::Engine,
) -> (repo_server::Running, RepoServerServiceClient<Channel>) {
    let ca = Ca::new("repo-ca");
    ca.issue(&Leaf::server()).write(dir, "tls");
    std::fs::write(dir.join("client-ca.crt"), &ca.cert).unwrap();
    super::support::logs();
    let mut config = super::support::config(Some(tls(dir)));
    // The default engine's private cache directory is not used: removed, not left behind.
    let unused = std::mem::replace(&mut config.engine, engine);
    let _ = std::fs::remove_dir_all(unused.repo_cache_dir);
    let server = repo_server::start(config).await.expect("server starts");
    let id = ca
        .issue(&Leaf::client("argocd-application-controller"))
        .write(dir, "client");
    let channel = repo_client::open(
        &server.grpc.to_string(),
        Some(connector(ServerTrust::Insecure, Some(id))),
        None,
    )
    .await
    .unwrap();
    (server, RepoServerServiceClient::new(channel))
}

/// The JSON objects of a manifest response.
pub(crate) fn objects(manifests: &[String]) -> Vec<serde_json::Value> {
    manifests
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}
