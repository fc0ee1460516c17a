//! Helm dependencies from private repositories, end to end over gRPC: the request's `repos` and
//! `helmRepoCreds` give `helm dependency build` the credentials of a chart repository served
//! over HTTPS with Basic auth and a private CA (`insecure`, as the repository's Argo CD
//! setting), by URL and by `@alias`, and of an htpasswd OCI registry (a real docker-registry).
//! Without them the render fails naming the repository, and the password shows nowhere: not in
//! errors, not in the commands, not in the server's log.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::Path;

use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{ApplicationSource, RepoCreds, Repository};
use repo_testkit::registry::{self, Mode, Registry};
use repo_testkit::served::{basic, tls, Server};
use repo_testkit::{Ca, Helm, Leaf};
use repos::{client, objects, repo_message, repository, tool};
use tonic::Code;

const USER: &str = "helm";
const PASSWORD: &str = "s3cret-pw";

/// Files of a chart `dir/` (one ConfigMap `top`) depending on `dep` 0.1.0 from `repository`.
fn app(dir: &str, repository: &str) -> [(String, String); 2] {
    [
        (
            format!("{dir}/Chart.yaml"),
            format!(
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: dep\n  \
                 version: 0.1.0\n  repository: \"{repository}\"\n"
            ),
        ),
        (
            format!("{dir}/templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\n".into(),
        ),
    ]
}

fn request(
    git: &str,
    path: &str,
    repos: Vec<Repository>,
    creds: Vec<RepoCreds>,
) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(git),
        revision: "HEAD".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(git.into()),
            path: Some(path.into()),
            target_revision: Some("HEAD".into()),
            ..Default::default()
        }),
        repos,
        helm_repo_creds: creds,
        // The manifest cache keys an app by its source, not by the request's repositories.
        no_cache: true,
        ..Default::default()
    }
}

/// The sorted object names of a successful render; its one command shows no password.
async fn rendered(
    c: &mut repo_client::RepoServerServiceClient<tonic::transport::Channel>,
    req: ManifestRequest,
    password: &str,
) -> Vec<String> {
    let what = req.application_source.as_ref().unwrap().path().to_string();
    let rendered = c
        .generate_manifest(req)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:?}"))
        .into_inner();
    assert_eq!(rendered.commands.len(), 1, "{:?}", rendered.commands);
    assert!(rendered.commands[0].starts_with("helm template . "));
    assert!(!rendered.commands[0].contains(password));
    let mut names: Vec<String> = objects(&rendered.manifests)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The message of a failed render: FAILED_PRECONDITION from the dependency build.
async fn refused(
    c: &mut repo_client::RepoServerServiceClient<tonic::transport::Channel>,
    req: ManifestRequest,
) -> String {
    let denied = c.generate_manifest(req).await.unwrap_err();
    assert_eq!(denied.code(), Code::FailedPrecondition, "{denied:?}");
    assert!(denied.message().contains("dependency build"), "{denied:?}");
    denied.message().to_string()
}

fn git_repository(dir: &Path, files: &[(String, String)]) -> String {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, c)| (f.as_str(), c.as_str()))
        .collect();
    repository(dir, "origin", &files).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_helm_repository_dependencies() {
    if !tool("helm") {
        return;
    }
    let helm = Helm::new(Path::new(&std::env::var_os("HELM_BIN").unwrap()));
    let charts = tempfile::tempdir().unwrap();
    std::fs::copy(
        helm.chart("dep", "0.1.0"),
        charts.path().join("dep-0.1.0.tgz"),
    )
    .unwrap();
    helm.index(charts.path());
    let pair = Ca::new("charts-ca").issue(&Leaf::server());
    let server = Server::start(
        charts.path(),
        Some(tls(&pair, None)),
        &[basic(USER, PASSWORD)],
    );
    let url = format!("https://127.0.0.1:{}", server.port);
    let private = |password: &str| Repository {
        name: Some("priv".into()),
        repo: Some(url.clone()),
        r#type: Some("helm".into()),
        username: Some(USER.into()),
        password: Some(password.into()),
        insecure: Some(true),
        ..Default::default()
    };

    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = [app("by-url", &url), app("by-alias", "@priv")].concat();
    let git = git_repository(dir.path(), &files);
    let (running, mut c) = client(dir.path()).await;

    for path in ["by-url", "by-alias"] {
        let req = request(&git, path, vec![private(PASSWORD)], vec![]);
        assert_eq!(
            rendered(&mut c, req, PASSWORD).await,
            ["top", "web"],
            "{path}"
        );
    }
    // The repository without a password, with a wrong one, or not at all.
    let anonymous = Repository {
        username: None,
        password: None,
        ..private("")
    };
    for (repos, why) in [
        (vec![anonymous], "401 Unauthorized"),
        (vec![private("not-the-pw")], "401 Unauthorized"),
        (vec![], "certificate"),
    ] {
        let message = refused(&mut c, request(&git, "by-url", repos, vec![])).await;
        assert!(message.contains(why) && message.contains(&url), "{message}");
        assert!(!message.contains("not-the-pw"), "{message}");
    }
    let wrong = basic(USER, "not-the-pw");
    assert!(
        server
            .all()
            .iter()
            .any(|h| h.authorization.as_deref() == Some(wrong.as_str())),
        "the wrong password was tried"
    );
    let message = refused(&mut c, request(&git, "by-alias", vec![], vec![])).await;
    assert!(
        message.contains("no repository definition for @priv"),
        "{message}"
    );

    let logs = support::logs().text();
    assert!(logs.contains("grpc.code=\"FailedPrecondition\""));
    assert!(
        !logs.contains(PASSWORD) && !logs.contains("not-the-pw"),
        "a password reached the log"
    );
    running.stop().await.unwrap();
}

/// An `oci://` dependency in a registry with htpasswd auth: credentials from a type `oci`
/// template prefixing it, or from an OCI repository (`enableOCI`, no scheme) on its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_oci_dependencies() {
    let Some(tools) = registry::Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Auth);
    let helm = Helm::new(&tools.helm);
    registry.push_chart(&helm, &helm.chart("dep", "0.1.0"), "charts");
    assert!(tool("helm"));
    let host = registry.host.clone();

    let dir = tempfile::tempdir().unwrap();
    let git = git_repository(dir.path(), &app("oci", &format!("oci://{host}/charts")));
    let (running, mut c) = client(dir.path()).await;

    let template = RepoCreds {
        url: Some(format!("oci://{host}")),
        r#type: Some("oci".into()),
        username: Some(registry::USER.into()),
        password: Some(registry::PASSWORD.into()),
        insecure_oci_force_http: Some(true),
        ..Default::default()
    };
    let req = request(&git, "oci", vec![], vec![template]);
    assert_eq!(
        rendered(&mut c, req, registry::PASSWORD).await,
        ["top", "web"]
    );
    let repository = Repository {
        repo: Some(host.clone()),
        r#type: Some("helm".into()),
        enable_oci: Some(true),
        username: Some(registry::USER.into()),
        password: Some(registry::PASSWORD.into()),
        ..Default::default()
    };
    let req = request(&git, "oci", vec![repository.clone()], vec![]);
    assert_eq!(
        rendered(&mut c, req, registry::PASSWORD).await,
        ["top", "web"]
    );

    let wrong = Repository {
        password: Some("not-the-pw".into()),
        ..repository
    };
    for repos in [vec![], vec![wrong]] {
        let message = refused(&mut c, request(&git, "oci", repos, vec![])).await;
        assert!(
            message.contains(&format!("oci://{host}/charts")),
            "{message}"
        );
        assert!(!message.contains("not-the-pw"), "{message}");
    }
    let logs = support::logs().text();
    assert!(!logs.contains(registry::PASSWORD) && !logs.contains("not-the-pw"));
    running.stop().await.unwrap();
}
