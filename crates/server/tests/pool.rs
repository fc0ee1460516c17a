//! The components' pooled client: one handshake for many calls, and a new connection (with the
//! new identity) as soon as the client certificate is rotated.

mod support;

use std::time::{Duration, SystemTime};

use repo_client::{Component, Pool, Settings};
use repo_testkit::{Ca, Leaf};
use support::*;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn handshakes(http: std::net::SocketAddr) -> u64 {
    let (_, body) = get(http, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix("argocd_repo_server_tls_handshakes_total "))
        .expect("handshake counter")
        .trim()
        .parse()
        .unwrap()
}

async fn check(pool: &Pool) {
    HealthClient::new(pool.channel().await.unwrap())
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_reuses_one_connection_and_follows_a_rotated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("pool-ca");
    ca.issue(&Leaf::server()).write(dir.path(), "tls");
    std::fs::write(dir.path().join("client-ca.crt"), &ca.cert).unwrap();
    let server = start(Some(tls(dir.path()))).await;
    let (cert, key) = ca
        .issue(&Leaf::client("pooled-first"))
        .write(dir.path(), "client");
    let settings = Settings {
        component: Component::ApplicationController,
        address: server.grpc.to_string(),
        plaintext: false,
        server_ca: vec![],
        client_cert: Some((cert.clone(), key)),
        timeout: Some(Duration::from_secs(5)),
    };
    let pool = Pool::new(&settings).unwrap();
    let before = handshakes(server.http).await;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { check(&pool).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    check(&pool).await;
    assert_eq!(
        handshakes(server.http).await - before,
        1,
        "21 calls, one handshake"
    );

    ca.issue(&Leaf::client("pooled-second"))
        .write(dir.path(), "client");
    // Same-second rewrites keep the mtime on some filesystems; make the change visible.
    std::fs::File::options()
        .write(true)
        .open(&cert)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(2))
        .unwrap();
    check(&pool).await;
    check(&pool).await;
    assert_eq!(
        handshakes(server.http).await - before,
        2,
        "one more for the new certificate"
    );
    assert!(logs().text().contains("CN=pooled-second"));

    // An unreadable rotation is an error, not a silent fallback to the old identity.
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&cert)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(4))
        .unwrap();
    match pool.channel().await {
        Err(repo_client::Error::Tls(repo_tls::Error::NoCertificate { path })) => {
            assert_eq!(path, cert)
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a channel with the old identity after a broken rotation"),
    }
    assert_eq!(
        handshakes(server.http).await - before,
        2,
        "no connection with the old identity"
    );
    server.stop().await.unwrap();
}
