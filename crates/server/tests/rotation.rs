//! Live rotation of the server's TLS material, against directories laid out as kubelet writes
//! Secret volumes.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use repo_server::config::Tls;
use repo_testkit::{Ca, Leaf, Pair, SecretVolume};
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
    let tls = SecretVolume::new(&root.path().join("tls"));
    let mtls = SecretVolume::new(&root.path().join("mtls"));
    Mounts {
        _root: root,
        tls,
        mtls,
    }
}

fn settings(m: &Mounts) -> Tls {
    Tls {
        cert: m.tls.path("tls.crt"),
        key: m.tls.path("tls.key"),
        client_ca: Some(m.mtls.path("client-ca.crt")),
        ..tls(std::path::Path::new("/nonexistent"))
    }
}

fn serve(m: &mut Mounts, pair: &Pair) {
    m.tls
        .update(&[("tls.crt", &pair.cert), ("tls.key", &pair.key)]);
}

/// The leaf a fresh connection is served.
async fn served_leaf(addr: std::net::SocketAddr) -> Vec<u8> {
    let connector = connector(ServerTrust::Insecure, None);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect("localhost", tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_certificate_rotates_under_load_without_failures() {
    let mut m = mounts();
    let ca = Ca::new("rotation-ca");
    serve(&mut m, &ca.issue(&Leaf::server()));
    let server = start(Some(settings(&m))).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (stop, ok, failed, addr) = (stop.clone(), ok.clone(), failed.clone(), server.grpc);
        tokio::spawn(async move {
            // Fresh connection per call, as upstream's components do.
            while !stop.load(Ordering::Relaxed) {
                match health(addr, Some(connector(ServerTrust::Insecure, None))).await {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(err) => {
                        eprintln!("call failed: {err}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        })
    };
    for round in 0..3 {
        let next = ca.issue(&Leaf::server());
        serve(&mut m, &next);
        let want = der(&next.cert);
        eventually(&format!("rotation {round} served"), || {
            let want = want.clone();
            async move { served_leaf(server.grpc).await == want }
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "calls failed during rotation"
    );
    assert!(ok.load(Ordering::Relaxed) > 0);
    let (_, metrics) = get(server.http, "/metrics").await;
    assert!(
        metrics.contains("argocd_repo_server_tls_reloads_total{part=\"serving\",result=\"ok\"} 3"),
        "{metrics}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn broken_update_keeps_the_previous_set() {
    let mut m = mounts();
    let ca = Ca::new("rotation-ca");
    let first = ca.issue(&Leaf::server());
    serve(&mut m, &first);
    let server = start(Some(settings(&m))).await;
    let other = ca.issue(&Leaf::server());
    // A certificate with someone else's key: rejected, old set stays.
    m.tls
        .update(&[("tls.crt", &other.cert), ("tls.key", &first.key)]);
    eventually("reload error counted", || async {
        get(server.http, "/metrics")
            .await
            .1
            .contains("argocd_repo_server_tls_reloads_total{part=\"serving\",result=\"error\"} 1")
    })
    .await;
    assert_eq!(served_leaf(server.grpc).await, der(&first.cert));
    health(server.grpc, Some(connector(ServerTrust::Insecure, None)))
        .await
        .unwrap();
    assert!(logs().text().contains("TLS material update rejected"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_ca_added_to_the_bundle_is_trusted_live_and_mtls_can_be_switched_on() {
    let mut m = mounts();
    let (ca1, ca2) = (Ca::new("ca-one"), Ca::new("ca-two"));
    serve(&mut m, &ca1.issue(&Leaf::server()));
    // No client CA yet: TLS only.
    let server = start(Some(settings(&m))).await;
    assert!(!server.mtls);
    health(server.grpc, Some(connector(ServerTrust::Insecure, None)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let from_ca2 = ca2.issue(&Leaf::client("second")).write(dir.path(), "two");
    // The Secret appears: mTLS becomes required for new connections.
    m.mtls.update(&[("client-ca.crt", &ca1.cert)]);
    eventually("anonymous clients refused once the CA appears", || async {
        health(server.grpc, Some(connector(ServerTrust::Insecure, None)))
            .await
            .is_err()
    })
    .await;
    assert!(logs().text().contains("mTLS is now on for new connections"));
    let err = health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(from_ca2.clone()))),
    )
    .await
    .unwrap_err();
    assert!(err.ends_with("transport error"), "{err}");
    expect_rejections(server.http, "unknown_ca", 1).await;
    assert_eq!(rejections(server.http, "unknown_ca").await, 1);
    // A second CA joins the bundle: its clients are accepted without a restart.
    m.mtls
        .update(&[("client-ca.crt", &format!("{}{}", ca1.cert, ca2.cert))]);
    eventually("client of the added CA accepted", || {
        let id = from_ca2.clone();
        async move {
            health(
                server.grpc,
                Some(connector(ServerTrust::Insecure, Some(id))),
            )
            .await
            .is_ok()
        }
    })
    .await;
    // The liveness probe presents its identity now that mTLS is on.
    assert_eq!(get(server.http, "/healthz?full=true").await.0, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_revoked_client_is_refused_once_the_crl_appears() {
    let mut m = mounts();
    let ca = Ca::new("crl-ca");
    serve(&mut m, &ca.issue(&Leaf::server()));
    m.mtls.update(&[("client-ca.crt", &ca.cert)]);
    let mut settings = settings(&m);
    settings.client_crl = Some(m.mtls.path("client-crl.pem"));
    let server = start(Some(settings)).await;
    let dir = tempfile::tempdir().unwrap();
    let (bad, good) = (
        ca.issue(&Leaf::client("revoked-one")),
        ca.issue(&Leaf::client("still-good")),
    );
    let bad_id = bad.write(dir.path(), "bad");
    let good_id = good.write(dir.path(), "good");
    health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(bad_id.clone()))),
    )
    .await
    .unwrap();
    m.mtls.update(&[
        ("client-ca.crt", &ca.cert),
        ("client-crl.pem", &ca.crl(&[&bad])),
    ]);
    eventually("revoked client refused", || {
        let id = bad_id.clone();
        async move {
            health(
                server.grpc,
                Some(connector(ServerTrust::Insecure, Some(id))),
            )
            .await
            .is_err()
        }
    })
    .await;
    expect_rejections(server.http, "revoked", 1).await;
    health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(good_id))),
    )
    .await
    .unwrap();
    // A CRL from another CA is refused as a whole; the previous CRL keeps applying.
    let other = Ca::new("crl-ca");
    m.mtls.update(&[
        ("client-ca.crt", &ca.cert),
        ("client-crl.pem", &other.crl(&[])),
    ]);
    eventually("foreign CRL rejected", || async {
        get(server.http, "/metrics").await.1.contains(
            "argocd_repo_server_tls_reloads_total{part=\"client_crl\",result=\"error\"} 1",
        )
    })
    .await;
    let revoked = rejections(server.http, "revoked").await;
    let err = health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(bad_id))),
    )
    .await
    .unwrap_err();
    assert!(err.ends_with("transport error"), "{err}");
    expect_rejections(server.http, "revoked", revoked + 1).await;
    assert_eq!(rejections(server.http, "revoked").await, revoked + 1);
    server.stop().await.unwrap();
}
