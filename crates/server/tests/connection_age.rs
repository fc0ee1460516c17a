//! Bounded connection lifetime: well-behaved clients reconnect without failing a call, and a
//! revoked client loses its open connection within the maximum age.

mod support;

use std::time::Duration;

use repo_testkit::{Ca, Leaf, SecretVolume};
use repo_tls::ServerTrust;
use support::*;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const AGE: Duration = Duration::from_millis(300);

async fn handshakes(http: std::net::SocketAddr) -> u64 {
    let (_, body) = get(http, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix("argocd_repo_server_tls_handshakes_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_clients_reconnect_and_revoked_clients_are_cut() {
    logs();
    let root = tempfile::tempdir().unwrap();
    let mut mtls = SecretVolume::new(&root.path().join("mtls"));
    let ca = Ca::new("age-ca");
    mtls.update(&[("client-ca.crt", &ca.cert)]);
    let mut tls = tls(root.path());
    tls.client_ca = Some(mtls.path("client-ca.crt"));
    tls.client_crl = Some(mtls.path("client-crl.pem"));
    let mut config = config(Some(tls));
    config.max_connection_age = Some(AGE);
    config.max_connection_age_grace = Duration::from_millis(200);
    let server = repo_server::start(config).await.unwrap();
    let pair = ca.issue(&Leaf::client("long-lived"));
    let id = pair.write(root.path(), "client");
    let channel = repo_client::open(
        &server.grpc.to_string(),
        Some(connector(ServerTrust::Insecure, Some(id))),
        None,
    )
    .await
    .unwrap();
    let mut client = HealthClient::new(channel);
    let check = HealthCheckRequest {
        service: String::new(),
    };
    // Across several connection lifetimes, every call on the one channel succeeds.
    for _ in 0..20 {
        client
            .check(check.clone())
            .await
            .expect("a call across a connection's end of life");
        tokio::time::sleep(AGE / 6).await;
    }
    let n = handshakes(server.http).await;
    assert!(
        n >= 3,
        "the channel should have reconnected: {n} handshakes"
    );
    // The client is revoked: once its open connection ages out it cannot come back.
    mtls.update(&[
        ("client-ca.crt", &ca.cert),
        ("client-crl.pem", &ca.crl(&[&pair])),
    ]);
    let mut refused = false;
    for _ in 0..100 {
        if client.check(check.clone()).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "a revoked client kept its connection past the maximum age"
    );
    expect_rejections(server.http, "revoked", 1).await;
    server.stop().await.unwrap();
}
