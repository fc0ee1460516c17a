//! Credentials and TLS against real redis-server: wrong credentials are errors that name the
//! setting and never the secret; client certificates are required when the server says so.

mod common;

use std::time::Duration;

use common::{connected, settings, PATIENCE};
use repo_redis::{Cause, Error, Redis, Secret, Settings, Tls};
use repo_testkit::redis::{Instance, Options, Tools};

/// The first error that is not "not connected yet".
async fn failure(settings: Settings) -> Error {
    let redis = Redis::new(settings, std::sync::Arc::new(())).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match redis.get("k").await {
            Err(Error::Unavailable(Cause::NotConnected)) => {}
            Err(err) => {
                eprintln!("reported: {err}");
                return err;
            }
            Ok(v) => panic!("connected and read {v:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_names_the_setting_not_the_password() {
    let Some(tools) = Tools::find() else { return };
    let server = Instance::server(
        &tools,
        &Options {
            password: Some("right-horse-battery".into()),
            ..Options::default()
        },
    );
    let mut s = settings(server.port);
    s.password = Some(Secret::new("wrong-staple-7"));
    let err = failure(s.clone()).await;
    assert_eq!(err, Error::Unavailable(Cause::Auth));
    let text = err.to_string();
    assert!(text.contains("REDIS_PASSWORD"), "{text}");
    assert!(!text.contains("wrong-staple-7") && !format!("{err:?}").contains("wrong-staple-7"));

    s.password = None;
    assert_eq!(failure(s.clone()).await, Error::Unavailable(Cause::Auth));

    s.password = Some(Secret::new("right-horse-battery"));
    let (redis, _) = connected(s).await;
    redis.set("k", b"v", Duration::from_secs(60)).await.unwrap();
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_authenticates_with_its_name() {
    let Some(tools) = Tools::find() else { return };
    let server = Instance::server(
        &tools,
        &Options {
            user: Some(("argocd".into(), "acl-secret-9".into())),
            ..Options::default()
        },
    );
    let mut s = settings(server.port);
    s.password = Some(Secret::new("acl-secret-9"));
    // The password alone is the default user's, which has none.
    assert_eq!(failure(s.clone()).await, Error::Unavailable(Cause::Auth));
    s.username = Some("argocd".into());
    let (redis, _) = connected(s).await;
    redis.set("k", b"v", Duration::from_secs(60)).await.unwrap();
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

fn tls_server() -> Option<Instance> {
    let tools = Tools::find()?;
    Some(Instance::server(
        &tools,
        &Options {
            tls: true,
            ..Options::default()
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_a_client_certificate_is_refused() {
    let Some(server) = tls_server() else { return };
    let files = server.tls.clone().unwrap();
    let mut s = settings(server.port);
    s.tls = Some(Tls {
        ca: Some(files.ca.clone()),
        client: None,
        insecure_skip_verify: false,
    });
    let err = failure(s).await;
    assert!(
        matches!(&err, Error::Unavailable(Cause::Tls(m)) if m.contains("CertificateRequired")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_an_unknown_server_ca_is_refused() {
    let Some(server) = tls_server() else { return };
    let files = server.tls.clone().unwrap();
    let mut s = settings(server.port);
    // The system's CAs did not issue the test server's certificate.
    s.tls = Some(Tls {
        ca: None,
        client: Some((files.client_cert.clone(), files.client_key.clone())),
        insecure_skip_verify: false,
    });
    let err = failure(s).await;
    assert!(
        matches!(&err, Error::Unavailable(Cause::Tls(m)) if m.contains("UnknownIssuer")),
        "{err}"
    );
    assert!(err.to_string().contains("--redis-ca-certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_works() {
    let Some(server) = tls_server() else { return };
    let files = server.tls.clone().unwrap();
    let mut s = settings(server.port);
    s.tls = Some(Tls {
        ca: Some(files.ca.clone()),
        client: Some((files.client_cert.clone(), files.client_key.clone())),
        insecure_skip_verify: false,
    });
    let (redis, _) = connected(s.clone()).await;
    redis.set("k", b"v", Duration::from_secs(60)).await.unwrap();
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

    // Upstream's --redis-insecure-skip-tls-verify: no CA needed.
    s.tls = Some(Tls {
        ca: None,
        client: Some((files.client_cert, files.client_key)),
        insecure_skip_verify: true,
    });
    let (insecure, _) = connected(s).await;
    assert_eq!(insecure.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_certificate_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(1);
    s.tls = Some(Tls {
        ca: None,
        client: Some((dir.path().join("client.crt"), dir.path().join("client.key"))),
        insecure_skip_verify: true,
    });
    let err = Redis::new(s, std::sync::Arc::new(())).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("--redis-client-certificate")),
        "{err}"
    );
}
