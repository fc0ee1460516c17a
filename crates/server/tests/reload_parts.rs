//! Each Secret's material reloads on its own: a broken serving pair (argocd-repo-server-tls)
//! never holds back a new client CA or CRL (argocd-repo-server-mtls), and a broken CRL file
//! keeps the previous CRLs without holding back a new client CA.

mod support;

use std::time::Duration;

use repo_server::config::Tls;
use repo_testkit::{Ca, Leaf, SecretVolume};
use repo_tls::ServerTrust;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use support::*;

struct Mounts {
    _root: tempfile::TempDir,
    tls: SecretVolume,
    mtls: SecretVolume,
}

fn mounts() -> Mounts {
    let root = tempfile::tempdir().unwrap();
    Mounts {
        tls: SecretVolume::new(&root.path().join("tls")),
        mtls: SecretVolume::new(&root.path().join("mtls")),
        _root: root,
    }
}

fn settings(m: &Mounts) -> Tls {
    Tls {
        cert: m.tls.path("tls.crt"),
        key: m.tls.path("tls.key"),
        client_ca: Some(m.mtls.path("client-ca.crt")),
        client_crl: Some(m.mtls.path("client-crl.pem")),
        ..tls(std::path::Path::new("/nonexistent"))
    }
}

/// Polls `check` until it holds; the bound only keeps a broken build from hanging.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

fn series(part: &str, result: &str) -> String {
    format!("argocd_repo_server_tls_reloads_total{{part=\"{part}\",result=\"{result}\"}}")
}

async fn served_leaf(
    addr: std::net::SocketAddr,
    id: (std::path::PathBuf, std::path::PathBuf),
) -> Vec<u8> {
    let connector = connector(ServerTrust::Insecure, Some(id));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect("localhost", tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn a_broken_serving_pair_never_delays_a_crl_or_a_new_client_ca() {
    let mut m = mounts();
    let (ca, other_ca) = (Ca::new("client-ca"), Ca::new("second-ca"));
    let serving = ca.issue(&Leaf::server());
    m.tls
        .update(&[("tls.crt", &serving.cert), ("tls.key", &serving.key)]);
    m.mtls.update(&[("client-ca.crt", &ca.cert)]);
    let server = start(Some(settings(&m))).await;
    let dir = tempfile::tempdir().unwrap();
    let bad = ca.issue(&Leaf::client("to-be-revoked"));
    let bad_id = bad.write(dir.path(), "bad");
    let newcomer = other_ca
        .issue(&Leaf::client("newcomer"))
        .write(dir.path(), "new");
    let call = |id| {
        health(
            server.grpc,
            Some(connector(ServerTrust::Insecure, Some(id))),
        )
    };
    call(bad_id.clone()).await.unwrap();
    let err = call(newcomer.clone()).await.unwrap_err();
    assert!(err.ends_with("transport error"), "{err}");
    expect_rejections(server.http, "unknown_ca", 1).await;

    // tls.crt is broken (a truncated write) ...
    m.tls.update(&[
        ("tls.crt", &serving.cert[..serving.cert.len() / 2]),
        ("tls.key", &serving.key),
    ]);
    eventually("broken serving pair rejected", || async {
        metric(server.http, &series("serving", "error")).await == Some(1)
    })
    .await;
    // ... while the client CA Secret gains a CRL and a second CA: both go live.
    m.mtls.update(&[
        ("client-ca.crt", &format!("{}{}", ca.cert, other_ca.cert)),
        ("client-crl.pem", &ca.crl(&[&bad])),
    ]);
    eventually("revoked client refused", || {
        let id = bad_id.clone();
        async move { call(id).await.is_err() }
    })
    .await;
    expect_rejections(server.http, "revoked", 1).await;
    call(newcomer.clone()).await.unwrap();
    assert_eq!(
        metric(server.http, &series("client_ca", "ok")).await,
        Some(1)
    );
    assert_eq!(
        metric(server.http, &series("client_crl", "ok")).await,
        Some(1)
    );
    // The previous serving pair is still the one served, and the failure was counted once.
    let first = CertificateDer::from_pem_slice(serving.cert.as_bytes()).unwrap();
    assert_eq!(
        served_leaf(server.grpc, newcomer.clone()).await,
        first.to_vec()
    );
    assert_eq!(
        metric(server.http, &series("serving", "error")).await,
        Some(1)
    );
    assert!(logs().text().contains("TLS material update rejected"));

    // A repaired pair goes live on its own.
    let next = ca.issue(&Leaf::server());
    m.tls
        .update(&[("tls.crt", &next.cert), ("tls.key", &next.key)]);
    let next_der = CertificateDer::from_pem_slice(next.cert.as_bytes())
        .unwrap()
        .to_vec();
    eventually("repaired pair served", || {
        let id = newcomer.clone();
        let want = next_der.clone();
        async move { served_leaf(server.grpc, id).await == want }
    })
    .await;
    // Revocation survives the serving reload.
    let err = call(bad_id).await.unwrap_err();
    assert!(err.ends_with("transport error"), "{err}");
    expect_rejections(server.http, "revoked", 2).await;
    assert_eq!(rejections(server.http, "revoked").await, 2);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_broken_crl_keeps_the_previous_crl_and_lets_a_new_client_ca_through() {
    let mut m = mounts();
    let (ca, other_ca) = (Ca::new("client-ca"), Ca::new("second-ca"));
    let serving = ca.issue(&Leaf::server());
    m.tls
        .update(&[("tls.crt", &serving.cert), ("tls.key", &serving.key)]);
    let dir = tempfile::tempdir().unwrap();
    let bad = ca.issue(&Leaf::client("revoked"));
    let bad_id = bad.write(dir.path(), "bad");
    m.mtls.update(&[
        ("client-ca.crt", &ca.cert),
        ("client-crl.pem", &ca.crl(&[&bad])),
    ]);
    let server = start(Some(settings(&m))).await;
    let newcomer = other_ca
        .issue(&Leaf::client("newcomer"))
        .write(dir.path(), "new");
    let call = |id| {
        health(
            server.grpc,
            Some(connector(ServerTrust::Insecure, Some(id))),
        )
    };
    let err = call(bad_id.clone()).await.unwrap_err();
    assert!(err.ends_with("transport error"), "{err}");
    expect_rejections(server.http, "revoked", 1).await;
    // A CRL that is not PEM, next to a grown bundle: the bundle goes live, the old CRL stays.
    m.mtls.update(&[
        ("client-ca.crt", &format!("{}{}", ca.cert, other_ca.cert)),
        ("client-crl.pem", "not a CRL"),
    ]);
    eventually("new client CA trusted", || {
        let id = newcomer.clone();
        async move { call(id).await.is_ok() }
    })
    .await;
    assert_eq!(
        metric(server.http, &series("client_crl", "error")).await,
        Some(1)
    );
    // The previous CRL still applies.
    let err = call(bad_id).await.unwrap_err();
    assert!(err.ends_with("transport error"), "{err}");
    expect_rejections(server.http, "revoked", 2).await;
    assert_eq!(rejections(server.http, "revoked").await, 2);
    server.stop().await.unwrap();
}
