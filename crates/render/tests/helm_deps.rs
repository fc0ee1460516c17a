//! `helm dependency build` with the request's Helm repositories, against the real helm: a
//! private repository (made with `helm package` + `helm repo index`) served with Basic auth by
//! the test, reached through `@alias` and `alias:` names. The credentials reach helm through
//! its configuration files only, and a build made with them is never reused without them.

#[allow(dead_code)]
#[path = "render/common.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{have, parse, Repo, Request};
use repo_render::{render, Error, HelmRepo, Input};
use repo_source::Creds;
use repo_testkit::served::{basic, Server};
use repo_testkit::Helm;

const USER: &str = "helm";
const PASSWORD: &str = "s3cret-pw";

/// A chart repository in `dir` holding `dep` 0.1.0 (a ConfigMap named after the release),
/// made with the real helm, served over HTTP to Basic `USER:PASSWORD` only.
fn chart_repository(helm: &Path, dir: &Path) -> Server {
    let helm = Helm::new(helm);
    std::fs::copy(helm.chart("dep", "0.1.0"), dir.join("dep-0.1.0.tgz")).unwrap();
    helm.index(dir);
    Server::start(dir, None, &[basic(USER, PASSWORD)])
}

/// Files of a chart `dir/` (one ConfigMap `top`) depending on `dep` 0.1.0 from `repository`.
fn app(repo: &Repo, dir: &str, repository: &str) {
    repo.file(
        &format!("{dir}/Chart.yaml"),
        &format!(
            "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: dep\n  \
             version: 0.1.0\n  repository: \"{repository}\"\n"
        ),
    )
    .file(
        &format!("{dir}/templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\n",
    );
}

/// The requests `server` answered with `password`.
fn with(server: &Server, password: &str) -> usize {
    let authorization = basic(USER, password);
    let all = server.all();
    all.iter()
        .filter(|h| h.authorization.as_deref() == Some(authorization.as_str()))
        .count()
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
        username: USER.into(),
        password: password.into(),
        ..Creds::default()
    };
    vec![HelmRepo {
        name: "priv".into(),
        repo: repo_source::Repo::new(url, creds).unwrap(),
        oci: false,
        plain_http: false,
        template: false,
        unsupported: None,
    }]
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
    app(&repo, "app", "@priv");
    app(&repo, "aliased", "alias:priv");
    let probe = Request::new(&repo, "app");
    let Some(real) = probe.tools.helm.clone() else {
        have(None, "helm");
        return;
    };
    let served = tempfile::tempdir().unwrap();
    let server = chart_repository(&real, served.path());
    let url = &format!("http://127.0.0.1:{}", server.port);

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
    let good = private(url, PASSWORD);

    assert_eq!(
        names(&request("app"), &good).await.unwrap(),
        ["guestbook", "top"]
    );
    let fetched = with(&server, PASSWORD);
    assert_eq!(fetched, 2, "the index and the chart");
    // The same chart with the same credentials: the build is reused.
    assert_eq!(
        names(&request("app"), &good).await.unwrap(),
        ["guestbook", "top"]
    );
    assert_eq!(with(&server, PASSWORD), fetched);

    // Without the credentials, the cached build is not served; helm names what is missing.
    let missing = tool_message(names(&request("app"), &[]).await);
    assert!(
        missing.contains("no repository definition for @priv")
            && missing.contains("give Argo CD the dependency's repository"),
        "{missing}"
    );
    // With a wrong password, the repository says no.
    let wrong = tool_message(names(&request("app"), &private(url, "not-the-pw")).await);
    assert!(
        wrong.contains("401 Unauthorized") && wrong.contains(url),
        "{wrong}"
    );
    assert!(!wrong.contains("not-the-pw"), "{wrong}");
    assert!(
        with(&server, "not-the-pw") > 0,
        "helm sent the wrong password"
    );
    assert_eq!(with(&server, PASSWORD), fetched);

    // `alias:` names the repository as `@` does.
    assert_eq!(
        names(&request("aliased"), &good).await.unwrap(),
        ["guestbook", "top"]
    );

    // The real helm, confined where the kernel has Landlock: it reads its configuration in the
    // request directory and reaches the network.
    let confined = Request::new(&repo, "aliased");
    assert_eq!(
        names(&confined, &good).await.unwrap(),
        ["guestbook", "top"],
        "{:?}",
        confined.tools.sandbox
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
