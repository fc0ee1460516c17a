//! `.argocd-source*.yaml` overrides, Helm app details and remote value files over gRPC with
//! real repositories, helm and kustomize: upstream's TestGenerateManifestsWithAppParameterFile,
//! TestGetAppDetailsWithAppParameterFile (testdata/app-parameters), Test_populateHelmAppDetails
//! (testdata/values-files) and TestGenerateHelmWithURL, ported.
//!
//! GenerateManifest requests are built as controller/state.go `GetRepoObjs` builds them (the
//! app's instance name, argocd-cm's `helmOptions`); GetAppDetails queries as
//! server/application/application.go `GetAppDetails` builds them.

#[path = "support/repos.rs"]
mod repos;
mod support;

use parking_lot::Mutex;
use std::path::Path;
use std::sync::Arc;

use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceHelm, HelmFileParameter, HelmOptions, Repository,
};
use repos::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

const GUESTBOOK: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook-ui\nspec:\n  selector:\n    matchLabels:\n      app: guestbook-ui\n  template:\n    metadata:\n      labels:\n        app: guestbook-ui\n    spec:\n      containers:\n      - name: guestbook-ui\n        image: quay.io/argoprojlabs/argocd-e2e-container:0.1\n";
const KUSTOMIZATION: &str = "resources:\n- guestbook.yaml\n";
const IMAGES_02: &str =
    "kustomize:\n  images:\n    - quay.io/argoprojlabs/argocd-e2e-container:0.2";
const IMAGES_03: &str =
    "kustomize:\n  images:\n    - quay.io/argoprojlabs/argocd-e2e-container:0.3\n";

/// Upstream's reposerver/repository/testdata/app-parameters and values-files.
fn app_parameters(dir: &Path) -> (std::path::PathBuf, String) {
    let helm_template = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook-ui\nspec:\n  template:\n    spec:\n      containers:\n      - name: guestbook-ui\n        image: quay.io/argoprojlabs/argocd-e2e-container:{{ .Values.image.tag }}\n";
    repository(
        dir,
        "origin",
        &[
            ("multi/guestbook.yaml", GUESTBOOK),
            ("multi/kustomization.yaml", KUSTOMIZATION),
            ("multi/.argocd-source.yaml", IMAGES_02),
            ("multi/.argocd-source-testapp.yaml", IMAGES_03),
            (
                "multi/.argocd-source-unmergeable.yaml",
                "repo: https://somewhere\nkustomize:\n  images:\n    - quay.io/argoprojlabs/argocd-e2e-container:0.3\n  invalid:\n    - I don't know\n",
            ),
            (
                "multi/.argocd-source-broken.yaml",
                "aloi\nkustomize:\n  images:\n    - quay.io/argoprojlabs/argocd-e2e-container:0.2\n",
            ),
            ("single-app-only/guestbook.yaml", GUESTBOOK),
            ("single-app-only/kustomization.yaml", KUSTOMIZATION),
            ("single-app-only/.argocd-source-testapp.yaml", IMAGES_03),
            ("single-global/guestbook.yaml", GUESTBOOK),
            ("single-global/kustomization.yaml", KUSTOMIZATION),
            ("single-global/.argocd-source.yaml", IMAGES_02),
            ("single-global-helm/Chart.yaml", "apiVersion: v2\nname: guestbook\nversion: 0.1.0\n"),
            ("single-global-helm/values.yaml", "image:\n  tag: '0.1'\n"),
            ("single-global-helm/templates/deployment.yaml", helm_template),
            (
                "single-global-helm/.argocd-source.yaml",
                "helm:\n  parameters:\n    - name: image.tag\n      value: '0.2'\n",
            ),
            ("values-files/Chart.yaml", "name: my-chart\nversion: 1.1.0"),
            ("values-files/caps-extn-values.YAML", ""),
            ("values-files/dir/values.yaml", "values: yaml\n"),
            ("values-files/exclude.yaml", "exclude: yaml\n"),
            (
                "values-files/has-the-word-values.yaml",
                "has:\n  the:\n    word:\n      values: yaml\n",
            ),
            ("values-files/values.yaml", "values: yaml\n"),
            ("values-files/values.yml", ""),
            ("remote/Chart.yaml", "apiVersion: v2\nname: remote\nversion: 0.1.0\n"),
            ("remote/values.yaml", "env: default\n"),
            (
                "remote/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote\ndata:\n  env: {{ .Values.env | quote }}\n",
            ),
        ],
    )
}

fn request(url: &str, path: &str, app: &str) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: "main".into(),
        app_name: app.into(),
        namespace: "default".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some("main".into()),
            ..Default::default()
        }),
        helm_options: Some(HelmOptions {
            values_file_schemes: vec!["https".into(), "http".into()],
        }),
        project_name: "default".into(),
        project_source_repos: vec!["*".into()],
        ..Default::default()
    }
}

fn image(response: &ManifestResponse) -> String {
    let objects = objects(&response.manifests);
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_merge_shared_then_per_app() {
    if !tool("helm") || !tool("kustomize") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = app_parameters(dir.path());
    let (_server, mut c) = client(dir.path()).await;
    let e2e = "quay.io/argoprojlabs/argocd-e2e-container";
    for (path, app, tag) in [
        ("single-global", "", "0.2"),
        ("single-global-helm", "", "0.2"),
        ("single-app-only", "testapp", "0.3"),
        ("single-app-only", "testapp2", "0.1"),
        ("multi", "testapp", "0.3"),
        ("multi", "other", "0.2"),
        // Unknown fields (`repo`, `kustomize.invalid`) are ignored.
        ("multi", "unmergeable", "0.3"),
    ] {
        let response = c
            .generate_manifest(request(&url, path, app))
            .await
            .unwrap_or_else(|e| panic!("{path} for {app:?}: {e:?}"))
            .into_inner();
        assert_eq!(
            image(&response),
            format!("{e2e}:{tag}"),
            "{path} for {app:?}"
        );
    }
    let err = c
        .generate_manifest(request(&url, "multi", "broken"))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("multi/.argocd-source-broken.yaml: "),
        "{err:?}"
    );

    // The overrides reach GetAppDetails too.
    for (app, tag) in [("", "0.2"), ("testapp", "0.3"), ("unmergeable", "0.3")] {
        let details = c
            .get_app_details(details_query(&url, "multi", app, None))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(details.kustomize.unwrap().images, [format!("{e2e}:{tag}")]);
    }
    let err = c
        .get_app_details(details_query(&url, "multi", "broken", None))
        .await
        .unwrap_err();
    assert!(
        err.message().contains(".argocd-source-broken.yaml"),
        "{err:?}"
    );
}

fn details_query(
    url: &str,
    path: &str,
    app: &str,
    helm: Option<ApplicationSourceHelm>,
) -> RepoServerAppDetailsQuery {
    RepoServerAppDetailsQuery {
        repo: repo_message(url),
        source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some("main".into()),
            helm,
            ..Default::default()
        }),
        app_name: app.into(),
        helm_options: Some(HelmOptions {
            values_file_schemes: vec!["https".into(), "http".into()],
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_details_list_value_files_and_merge_the_selected_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = app_parameters(dir.path());
    let (_server, mut c) = client(dir.path()).await;
    let helm = ApplicationSourceHelm {
        value_files: vec!["exclude.yaml".into(), "has-the-word-values.yaml".into()],
        file_parameters: vec![HelmFileParameter {
            name: Some("cert".into()),
            path: Some("files/cert.pem".into()),
        }],
        ..Default::default()
    };
    let details = c
        .get_app_details(details_query(&url, "values-files", "", Some(helm)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.r#type, "Helm");
    let helm = details.helm.unwrap();
    assert_eq!(
        helm.value_files,
        [
            "caps-extn-values.YAML",
            "dir/values.yaml",
            "has-the-word-values.yaml",
            "values.yaml",
            "values.yml"
        ]
    );
    let params: Vec<(&str, &str)> = helm
        .parameters
        .iter()
        .map(|p| (p.name(), p.value()))
        .collect();
    assert_eq!(
        params,
        [
            ("exclude", "yaml"),
            ("has.the.word.values", "yaml"),
            ("values", "yaml")
        ]
    );
    assert_eq!(helm.values, "values: yaml\n");
    assert_eq!(helm.file_parameters.len(), 1);
    assert_eq!(
        (
            helm.file_parameters[0].name(),
            helm.file_parameters[0].path()
        ),
        ("cert", "files/cert.pem")
    );
}

/// A one-file HTTP server: every GET gets `body`; the requests it saw are kept.
async fn values_server(body: &'static str) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                log.lock()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_value_files_need_an_allowed_scheme_and_carry_no_credentials() {
    if !tool("helm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = app_parameters(dir.path());
    let (http, seen) = values_server("env: remote\n").await;
    let (_server, mut c) = client(dir.path()).await;
    let remote = format!("http://{http}/prod/values.yaml");
    let with = |schemes: &[&str]| {
        let mut req = request(&url, "remote", "web");
        // The app's repository has credentials: they must not reach the values host.
        req.repo = Some(Repository {
            password: Some("repo-secret".into()),
            username: Some("git".into()),
            ..repo_message(&url).unwrap()
        });
        req.application_source.as_mut().unwrap().helm = Some(ApplicationSourceHelm {
            value_files: vec![remote.clone()],
            ..Default::default()
        });
        req.helm_options = Some(HelmOptions {
            values_file_schemes: schemes.iter().map(|s| s.to_string()).collect(),
        });
        req
    };

    let response = c
        .generate_manifest(with(&["https", "http"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(objects(&response.manifests)[0]["data"]["env"], "remote");
    assert!(
        response.commands[0].contains(&format!("--values {remote}")),
        "{:?}",
        response.commands
    );
    let requests = seen.lock().clone();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].starts_with("GET /prod/values.yaml HTTP/1.1\r\n"));
    assert!(
        !requests[0].to_ascii_lowercase().contains("authorization"),
        "{}",
        requests[0]
    );

    let err = c.generate_manifest(with(&["https"])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(err.message(), "the URL scheme 'http' is not allowed");
    // Without helmOptions no scheme is allowed, as upstream's repo-server.
    let err = c.generate_manifest(with(&[])).await.unwrap_err();
    assert_eq!(err.message(), "the URL scheme 'http' is not allowed");

    // GetAppDetails reads the remote file for parameters, after values.yaml.
    let helm = ApplicationSourceHelm {
        value_files: vec![remote.clone()],
        ..Default::default()
    };
    let details = c
        .get_app_details(details_query(&url, "remote", "web", Some(helm)))
        .await
        .unwrap()
        .into_inner();
    let params: Vec<(&str, &str)> = details
        .helm
        .as_ref()
        .unwrap()
        .parameters
        .iter()
        .map(|p| (p.name(), p.value()))
        .collect();
    assert_eq!(params, [("env", "remote")]);
}
