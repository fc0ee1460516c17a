//! The acceptance matrix of the mTLS feature, over real loopback sockets.

mod support;

use std::path::Path;

use repo_testkit::{have_openssl, openssl_recipe, Ca, Leaf};
use repo_tls::{Connector, ServerTrust};
use support::*;

/// A server dir with a CA, a server cert for localhost, and `client-ca.crt` = that CA.
fn pki(dir: &Path) -> Ca {
    let ca = Ca::new("argocd-internal-repo-ca");
    ca.issue(&Leaf::server()).write(dir, "tls");
    std::fs::write(dir.join("client-ca.crt"), &ca.cert).unwrap();
    ca
}

/// A call over `tls` that the server refuses in the handshake: the client's call fails on the
/// transport, and the server counts exactly one more refusal for `reason`.
async fn expect_refused(server: &repo_server::Running, tls: Option<Connector>, reason: &str) {
    let before = rejections(server.http, reason).await;
    let err = health(server.grpc, tls).await.unwrap_err();
    assert!(err.ends_with("transport error"), "{reason}: {err}");
    expect_rejections(server.http, reason, before + 1).await;
    assert_eq!(
        rejections(server.http, reason).await,
        before + 1,
        "{reason}"
    );
}

#[tokio::test]
async fn shared_certificate_is_accepted_and_identity_logged() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki(dir.path());
    let server = start(Some(tls(dir.path()))).await;
    assert!(server.mtls);
    let id = ca
        .issue(&Leaf::client("shared-client-7f3a"))
        .write(dir.path(), "client");
    health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(id))),
    )
    .await
    .unwrap();
    let logs = logs().text();
    assert!(
        logs.contains("peer.identity=CN=shared-client-7f3a"),
        "RPC log line lacks the identity:\n{logs}"
    );
    // Expiry of the serving certificate, the CA and the client just seen.
    let (_, metrics) = get(server.http, "/metrics").await;
    for series in [
        "argocd_repo_server_tls_cert_expiration_timestamp_seconds{cert=\"server\",subject=\"CN=argocd-repo-server\"}",
        "argocd_repo_server_tls_cert_expiration_timestamp_seconds{cert=\"client_ca\",subject=\"CN=argocd-internal-repo-ca\"}",
        "argocd_repo_server_tls_cert_expiration_timestamp_seconds{cert=\"client\",subject=\"shared-client-7f3a\"}",
        "argocd_repo_server_requests_total{identity=\"shared-client-7f3a\",grpc_method=\"Check\",grpc_code=\"OK\"} 1",
    ] {
        assert!(metrics.contains(series), "missing {series} in\n{metrics}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn per_component_certificates_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki(dir.path());
    let server = start(Some(tls(dir.path()))).await;
    for component in [
        "argocd-server",
        "argocd-application-controller",
        "argocd-applicationset-controller",
        "argocd-notifications-controller",
    ] {
        let mut leaf = Leaf::client(component);
        leaf.uris = vec![format!("spiffe://cluster.local/ns/argocd/sa/{component}")];
        let id = ca.issue(&leaf).write(dir.path(), component);
        health(
            server.grpc,
            Some(connector(ServerTrust::Insecure, Some(id))),
        )
        .await
        .unwrap();
    }
    assert!(logs()
        .text()
        .contains("URI:spiffe://cluster.local/ns/argocd/sa/argocd-notifications-controller"));
    server.stop().await.unwrap();
}

async fn refused(leaf: Option<repo_testkit::Pair>, reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let server = start(Some(tls(dir.path()))).await;
    let id = leaf.map(|pair| pair.write(dir.path(), "client"));
    expect_refused(&server, Some(connector(ServerTrust::Insecure, id)), reason).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn no_certificate_is_refused() {
    refused(None, "no_certificate").await;
}

#[tokio::test]
async fn another_ca_is_refused() {
    refused(
        Some(Ca::new("some-other-ca").issue(&Leaf::client("x"))),
        "unknown_ca",
    )
    .await;
}

#[tokio::test]
async fn self_signed_is_refused() {
    refused(Some(Leaf::client("x").self_signed()), "unknown_ca").await;
}

#[tokio::test]
async fn server_auth_only_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki(dir.path());
    let server = start(Some(tls(dir.path()))).await;
    let leaf = Leaf::client("x").eku(vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth]);
    let id = ca.issue(&leaf).write(dir.path(), "client");
    let tls = connector(ServerTrust::Insecure, Some(id));
    expect_refused(&server, Some(tls), "wrong_key_usage").await;
    // Expired, not yet valid and CA-flagged leaves from the trusted CA, on the same server.
    for (leaf, reason) in [
        (Leaf::client("x").expired(), "expired"),
        (Leaf::client("x").not_yet_valid(), "not_yet_valid"),
        (Leaf::client("x").ca_flagged(), "ca_as_client"),
    ] {
        let id = ca.issue(&leaf).write(dir.path(), reason);
        expect_refused(
            &server,
            Some(connector(ServerTrust::Insecure, Some(id))),
            reason,
        )
        .await;
    }
    let logs = logs().text();
    assert!(
        logs.contains("TLS handshake rejected: client certificate has expired"),
        "{logs}"
    );
    assert!(logs.contains("peer=127.0.0.1:"), "{logs}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn openssl_recipe_certificates_work() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_recipe(d);
    std::fs::rename(d.join("server.crt"), d.join("tls.crt")).unwrap();
    std::fs::rename(d.join("server.key"), d.join("tls.key")).unwrap();
    std::fs::copy(d.join("ca.crt"), d.join("client-ca.crt")).unwrap();
    let server = start(Some(tls(d))).await;
    let id = (d.join("client.crt"), d.join("client.key"));
    health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(id.clone()))),
    )
    .await
    .unwrap();
    assert!(logs().text().contains("CN=argocd-core-clients"));
    // Strict verification of the CN-only server certificate fails with an actionable error.
    let strict = ServerTrust::load(&[&d.join("ca.crt")]).unwrap();
    let err = health(server.grpc, Some(connector(strict, Some(id))))
        .await
        .unwrap_err();
    assert!(err.contains("subjectAltName"), "{err}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn tls_only_without_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Some(tls(dir.path()))).await;
    assert!(!server.mtls);
    health(server.grpc, Some(connector(ServerTrust::Insecure, None)))
        .await
        .unwrap();
    // Plaintext never reaches the service behind a TLS port.
    expect_refused(&server, None, "protocol_error").await;
    let logs = logs().text();
    assert!(
        logs.contains("mTLS is disabled, serving TLS only"),
        "{logs}"
    );
    assert!(logs.contains("Generating self-signed TLS certificate for this session"));
    let (status, _) = get(server.http, "/healthz?full=true").await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn disable_tls_serves_plaintext() {
    let server = start(None).await;
    health(server.grpc, None).await.unwrap();
    // A TLS client finds no TLS server there.
    let err = health(server.grpc, Some(connector(ServerTrust::Insecure, None)))
        .await
        .unwrap_err();
    assert!(
        err.contains("received corrupt message of type InvalidContentType"),
        "{err}"
    );
    assert_eq!(get(server.http, "/healthz?full=true").await.0, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn empty_or_garbage_client_ca_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    logs();
    for content in ["", "not a certificate"] {
        std::fs::write(dir.path().join("client-ca.crt"), content).unwrap();
        let err = repo_server::start(config(Some(tls(dir.path()))))
            .await
            .err()
            .expect("must not start");
        assert!(err.to_string().contains("client-ca.crt"), "{err}");
    }
}

#[tokio::test]
async fn liveness_probe_works_under_mtls() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let server = start(Some(tls(dir.path()))).await;
    assert_eq!(get(server.http, "/healthz").await.0, 200);
    let (status, body) = get(server.http, "/healthz?full=true").await;
    assert_eq!(status, 200, "{body}");
    assert!(logs().text().contains(
        "Generated ephemeral health-check client certificate (CN=argocd-repo-server-health)"
    ));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn client_certificate_rotates_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki(dir.path());
    let server = start(Some(tls(dir.path()))).await;
    let mount = dir.path().join("mtls");
    std::fs::create_dir(&mount).unwrap();
    let paths = (mount.join("client.crt"), mount.join("client.key"));
    let tls = connector(ServerTrust::Insecure, Some(paths.clone()));
    // Secret not there yet: no certificate is presented and the call is refused.
    expect_refused(&server, Some(tls.clone()), "no_certificate").await;
    // A certificate from the wrong CA appears, then the right one: the same connector follows.
    Ca::new("other")
        .issue(&Leaf::client("x"))
        .write(&mount, "client");
    expect_refused(&server, Some(tls.clone()), "unknown_ca").await;
    ca.issue(&Leaf::client("rotated-2b9c"))
        .write(&mount, "client");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&paths.0)
        .unwrap()
        .set_modified(later)
        .unwrap();
    health(server.grpc, Some(tls)).await.unwrap();
    assert!(logs().text().contains("CN=rotated-2b9c"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn strict_server_verification() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki(dir.path());
    let server = start(Some(tls(dir.path()))).await;
    let id = ca.issue(&Leaf::client("x")).write(dir.path(), "client");
    let ca_file = dir.path().join("client-ca.crt");
    // Passing: the CA that signed the serving certificate, dialled by a name in its SANs.
    let strict = connector(ServerTrust::load(&[&ca_file]).unwrap(), Some(id.clone()));
    let by_name = format!("localhost:{}", server.grpc.port());
    let channel = repo_client::open(&by_name, Some(strict.clone()), None).await;
    assert!(channel.is_ok(), "{:?}", channel.err());
    health(server.grpc, Some(strict)).await.unwrap();
    // Failing: another CA.
    let other = dir.path().join("other-ca.crt");
    std::fs::write(&other, Ca::new("other").cert).unwrap();
    let wrong = connector(ServerTrust::load(&[&other]).unwrap(), Some(id));
    let err = health(server.grpc, Some(wrong.clone())).await.unwrap_err();
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown"),
        "{err}"
    );
    // The CA file is re-read when it changes: the failing connector recovers without a restart.
    std::fs::copy(&ca_file, &other).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&other)
        .unwrap()
        .set_modified(later)
        .unwrap();
    health(server.grpc, Some(wrong)).await.unwrap();
    // A CA path that does not exist is an error up front, not an empty trust pool.
    let missing = dir.path().join("missing.crt");
    match ServerTrust::load(&[&missing]) {
        Err(repo_tls::Error::Read { path, source }) => {
            assert_eq!(
                (path, source.kind()),
                (missing, std::io::ErrorKind::NotFound)
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a missing CA file loaded"),
    }
    server.stop().await.unwrap();
}
