//! `helm dependency build` with the request's Helm repositories, against the real helm: a
//! private repository (made with `helm package` + `helm repo index`) served with Basic auth by
//! the test, reached through `@alias` and `alias:` names. The credentials reach helm through
//! its configuration files only, and a build made with them is never reused without them.

#[allow(dead_code)]
#[path = "render/common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{have, parse, Repo, Request};
use repo_render::{render, Error, HelmRepo, Input};
use repo_source::Creds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "s3cret-pw";
/// `base64("helm:s3cret-pw")`.
const AUTHORIZATION: &str = "Basic aGVsbTpzM2NyZXQtcHc=";

/// Serves the files of `dir` over HTTP to requests with [`AUTHORIZATION`], else 401; counts
/// the files served.
async fn serve(dir: PathBuf) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/charts", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (dir, count) = (dir.clone(), count.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let authorized = head.lines().any(|l| {
                    l.split_once(':').is_some_and(|(name, value)| {
                        name.eq_ignore_ascii_case("authorization") && value.trim() == AUTHORIZATION
                    })
                });
                let file = path
                    .strip_prefix("/charts/")
                    .filter(|f| !f.contains('/') && !f.starts_with('.'))
                    .map(|f| dir.join(f));
                let (status, body) = if !authorized {
                    ("401 Unauthorized", Vec::new())
                } else if let Some(body) = file.and_then(|f| std::fs::read(f).ok()) {
                    count.fetch_add(1, Ordering::SeqCst);
                    ("200 OK", body)
                } else {
                    ("404 Not Found", Vec::new())
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (url, served)
}

/// Runs the real helm for the test's own set-up, with throwaway homes.
fn helm(helm: &Path, home: &Path, args: &[&str]) {
    let out = Command::new(helm)
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "helm {args:?}: {out:?}");
}

/// A chart repository in `dir` holding `dep` 0.1.0 (one ConfigMap `from-private`), indexed for
/// `url`.
fn chart_repository(helm_bin: &Path, dir: &Path, url: &str) -> PathBuf {
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
    let (src, out) = (src.to_str().unwrap(), charts.to_str().unwrap());
    helm(helm_bin, &home, &["package", src, "-d", out]);
    helm(helm_bin, &home, &["repo", "index", out, "--url", url]);
    charts
}

/// A wrapper that logs each helm invocation's arguments and environment.
fn logging_helm(real: &Path, dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("helm.log");
    let wrapper = dir.join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{0}'\nenv >> '{0}'\nexec '{1}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

fn private(url: &str, password: &str) -> Vec<HelmRepo> {
    let creds = Creds {
        username: "helm".into(),
        password: password.into(),
        ..Creds::default()
    };
    vec![HelmRepo {
        name: "priv".into(),
        repo: repo_source::Repo::new(url, creds).unwrap(),
        oci: false,
        plain_http: false,
        template: false,
    }]
}

fn app(repository: &str) -> String {
    format!("apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: dep\n  version: 0.1.0\n  repository: \"{repository}\"\n")
}

async fn names(req: &Request, repos: &[HelmRepo]) -> Result<Vec<String>, Error> {
    let rendered = render(&Input {
        helm_repos: repos,
        ..req.input()
    })
    .await?;
    let mut names: Vec<String> = parse(&rendered.manifests)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert!(
        !rendered.commands.concat().contains(PASSWORD),
        "{:?}",
        rendered.commands
    );
    Ok(names)
}

fn tool_message(result: Result<Vec<String>, Error>) -> String {
    match result {
        Err(Error::Tool {
            tool: "helm",
            message,
        }) => message,
        other => panic!("expected a helm failure, got {other:?}"),
    }
}

/// Every file under `dir` (the scratch area once renders are done) that holds `secret`.
fn holding(dir: &Path, secret: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .map(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes()))
                .unwrap_or(false)
        })
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_dependencies_come_with_the_request_credentials() {
    let repo = Repo::new();
    repo.file("app/Chart.yaml", &app("@priv"))
        .file(
            "app/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\n",
        )
        .file("aliased/Chart.yaml", &app("alias:priv"))
        .file(
            "aliased/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\n",
        );
    let probe = Request::new(&repo, "app");
    let Some(real) = probe.tools.helm.clone() else {
        have(None, "helm");
        return;
    };
    let served_dir = tempfile::tempdir().unwrap();
    let charts = served_dir.path().join("charts");
    let (url, served) = serve(charts.clone()).await;
    chart_repository(&real, served_dir.path(), &url);

    let bin = tempfile::tempdir().unwrap();
    let wrapper = logging_helm(&real, bin.path());
    let scratch = tempfile::tempdir().unwrap();
    let request = |path: &str| {
        let mut req = Request::new(&repo, path);
        req.label_key = String::new();
        req.tools.helm = Some(wrapper.clone());
        req.tools.scratch = scratch.path().to_path_buf();
        // The wrapper's log is outside any request directory, where a confined helm cannot write.
        req.tools.sandbox = repo_render::Sandbox::Unavailable("the wrapper logs outside".into());
        req
    };
    let good = private(&url, PASSWORD);

    assert_eq!(
        names(&request("app"), &good).await.unwrap(),
        ["from-private", "top"]
    );
    let fetched = served.load(Ordering::SeqCst);
    assert_eq!(fetched, 2, "the index and the chart");
    // The same chart with the same credentials: the build is reused.
    assert_eq!(
        names(&request("app"), &good).await.unwrap(),
        ["from-private", "top"]
    );
    assert_eq!(served.load(Ordering::SeqCst), fetched);

    // Without the credentials, the cached build is not served; helm names what is missing.
    let missing = tool_message(names(&request("app"), &[]).await);
    assert!(
        missing.contains("no repository definition for @priv")
            && missing.contains("give Argo CD the dependency's repository"),
        "{missing}"
    );
    // With a wrong password, the repository says no.
    let wrong = tool_message(names(&request("app"), &private(&url, "not-the-pw")).await);
    assert!(
        wrong.contains("401 Unauthorized") && wrong.contains(&url),
        "{wrong}"
    );
    assert!(!wrong.contains("not-the-pw"), "{wrong}");
    assert_eq!(served.load(Ordering::SeqCst), fetched);

    // `alias:` names the repository as `@` does.
    assert_eq!(
        names(&request("aliased"), &good).await.unwrap(),
        ["from-private", "top"]
    );

    let log = std::fs::read_to_string(bin.path().join("helm.log")).unwrap();
    assert!(log.contains("dependency build"), "{log}");
    assert!(
        !log.contains(PASSWORD) && !log.contains("not-the-pw"),
        "a password reached helm's argv or environment:\n{log}"
    );
    // Only the builds are cached, and the request directories (with the credentials) are gone.
    assert_eq!(holding(scratch.path(), PASSWORD), Vec::<PathBuf>::new());
}
