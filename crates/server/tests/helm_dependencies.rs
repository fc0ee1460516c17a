//! Helm dependencies from a private chart repository, end to end: the request's `repos` give
//! `helm dependency build` the credentials of a repository served over HTTPS with Basic auth
//! and a private CA (`insecure`, as the repository's Argo CD setting), by URL and by `@alias`.
//! Without them the render fails naming the repository, and the password shows nowhere: not in
//! errors, not in the commands, not in the server's log.

#[path = "../../render/tests/support/charts.rs"]
mod charts;
#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use charts::{serve, Served, PASSWORD, USER};
use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{ApplicationSource, Repository};
use repo_testkit::{Ca, Leaf};
use repo_tls::rustls::ServerConfig;
use repo_tls::tokio_rustls::TlsAcceptor;
use repos::{client, objects, repo_message, repository, tool};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::Code;

/// The chart repository over HTTPS, with a certificate from a CA of its own.
async fn https(helm: &Path) -> Served {
    let pair = Ca::new("charts-ca").issue(&Leaf::server());
    let chain = CertificateDer::pem_slice_iter(pair.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).unwrap();
    let config = ServerConfig::builder_with_provider(repo_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    serve(helm, "https", move |tcp| {
        let acceptor = acceptor.clone();
        async move { acceptor.accept(tcp).await }
    })
    .await
}

fn private(url: &str, password: &str) -> Repository {
    Repository {
        name: Some("priv".into()),
        repo: Some(url.into()),
        r#type: Some("helm".into()),
        username: Some(USER.into()),
        password: Some(password.into()),
        insecure: Some(true),
        ..Default::default()
    }
}

fn request(git: &str, path: &str, repos: Vec<Repository>) -> ManifestRequest {
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
        // The manifest cache keys an app by its source, not by the request's repositories.
        no_cache: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_dependencies_render_with_the_request_repositories() {
    if !tool("helm") {
        return;
    }
    let helm = PathBuf::from(std::env::var_os("HELM_BIN").unwrap());
    let served = https(&helm).await;
    let files: Vec<(String, String)> = [("by-url", served.url.as_str()), ("by-alias", "@priv")]
        .into_iter()
        .flat_map(|(dir, repository)| {
            charts::app(repository).map(|(file, content)| (format!("{dir}/{file}"), content))
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, c)| (f.as_str(), c.as_str()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (_, git) = repository(dir.path(), "origin", &files);
    let (server, mut c) = client(dir.path()).await;

    for path in ["by-url", "by-alias"] {
        let rendered = c
            .generate_manifest(request(&git, path, vec![private(&served.url, PASSWORD)]))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"))
            .into_inner();
        let mut names: Vec<String> = objects(&rendered.manifests)
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["from-private", "top"], "{path}");
        assert_eq!(rendered.commands.len(), 1, "{:?}", rendered.commands);
        assert!(rendered.commands[0].starts_with("helm template . "));
        assert!(!rendered.commands[0].contains(PASSWORD));
    }

    let fetched = served.files.load(Ordering::SeqCst);
    assert_eq!(fetched, 4, "an index and a chart per build");
    // The repository without a password, a wrong one, or not at all.
    let anonymous = Repository {
        username: None,
        password: None,
        ..private(&served.url, "")
    };
    for (repos, why) in [
        (vec![anonymous], "401 Unauthorized"),
        (vec![private(&served.url, "not-the-pw")], "401 Unauthorized"),
        (vec![], "certificate"),
    ] {
        let denied = c
            .generate_manifest(request(&git, "by-url", repos))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::FailedPrecondition, "{denied:?}");
        let message = denied.message();
        assert!(
            message.contains("dependency build") && message.contains(why),
            "{message}"
        );
        assert!(message.contains(&served.url), "{message}");
        assert!(!message.contains("not-the-pw"), "{message}");
    }
    assert_eq!(
        served.files.load(Ordering::SeqCst),
        fetched,
        "served without the password"
    );
    let denied = c
        .generate_manifest(request(&git, "by-alias", vec![]))
        .await
        .unwrap_err();
    assert!(
        denied
            .message()
            .contains("no repository definition for @priv"),
        "{denied:?}"
    );

    let logs = support::logs().text();
    assert!(
        logs.contains("grpc.code=\"FailedPrecondition\""),
        "the failures were logged"
    );
    assert!(
        !logs.contains(PASSWORD) && !logs.contains("not-the-pw"),
        "a password reached the log"
    );
    server.stop().await.unwrap();
}
