//! Authorization by identity and the permissive client-auth mode, over real mTLS connections.

mod support;

use std::path::{Path, PathBuf};

use repo_client::{RepoServerServiceClient, VersionServiceClient};
use repo_proto::repository::ListRefsRequest;
use repo_testkit::{Ca, Leaf, SecretVolume};
use repo_tls::ServerTrust;
use support::*;
use tonic::Code;

const POLICY: &str = r#"rules:
  - identities: ["argocd-server"]
    methods: ["*"]
  - identities: ["argocd-notifications-controller"]
    methods: ["GetAppDetails", "/version.VersionService/Version"]
"#;

async fn channel(
    addr: std::net::SocketAddr,
    id: Option<(PathBuf, PathBuf)>,
) -> tonic::transport::Channel {
    repo_client::open(
        &addr.to_string(),
        Some(connector(ServerTrust::Insecure, id)),
        None,
    )
    .await
    .unwrap()
}

/// The gRPC code of ListRefs and Version for this identity.
async fn codes(addr: std::net::SocketAddr, id: Option<(PathBuf, PathBuf)>) -> (Code, Code) {
    let ch = channel(addr, id).await;
    let list = RepoServerServiceClient::new(ch.clone())
        .list_refs(ListRefsRequest { repo: None })
        .await
        .map_or_else(|s| s.code(), |_| Code::Ok);
    let version = VersionServiceClient::new(ch)
        .version(())
        .await
        .map_or_else(|s| s.code(), |_| Code::Ok);
    (list, version)
}

fn identity(ca: &Ca, dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    ca.issue(&Leaf::client(cn)).write(dir, cn)
}

#[tokio::test]
async fn policy_allows_and_denies_by_identity_and_reloads_live() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("authz-ca");
    ca.issue(&Leaf::server()).write(dir.path(), "tls");
    std::fs::write(dir.path().join("client-ca.crt"), &ca.cert).unwrap();
    let mut volume = SecretVolume::new(&dir.path().join("policy"));
    volume.update(&[("policy.yaml", POLICY)]);
    let mut config = config(Some(tls(dir.path())));
    config.authorization_policy = Some(volume.path("policy.yaml"));
    logs();
    let server = repo_server::start(config).await.unwrap();

    let server_id = identity(&ca, dir.path(), "argocd-server");
    let notifications = identity(&ca, dir.path(), "argocd-notifications-controller");
    let stranger = identity(&ca, dir.path(), "argocd-stranger");
    // argocd-server: everything (ListRefs without a repository is refused by the handler: it got through).
    assert_eq!(
        codes(server.grpc, Some(server_id.clone())).await,
        (Code::InvalidArgument, Code::Ok)
    );
    // notifications: Version by full path, not ListRefs.
    assert_eq!(
        codes(server.grpc, Some(notifications.clone())).await,
        (Code::PermissionDenied, Code::Ok)
    );
    // No rule at all: denied everything but health.
    assert_eq!(
        codes(server.grpc, Some(stranger.clone())).await,
        (Code::PermissionDenied, Code::PermissionDenied)
    );
    health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(stranger.clone()))),
    )
    .await
    .unwrap();
    let logs_text = logs().text();
    assert!(logs_text.contains("Permission denied: no authorization rule allows argocd-stranger to call /repository.RepoServerService/ListRefs"), "{logs_text}");

    // A new policy goes live without a restart.
    volume.update(&[(
        "policy.yaml",
        &format!("{POLICY}  - identities: [argocd-stranger]\n    methods: [ListRefs]\n"),
    )]);
    for _ in 0..200 {
        if codes(server.grpc, Some(stranger.clone())).await.0 != Code::PermissionDenied {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        codes(server.grpc, Some(stranger.clone())).await.0,
        Code::InvalidArgument
    );
    // A broken policy is refused and the previous one stays.
    volume.update(&[(
        "policy.yaml",
        "rules:\n  - identities: [x]\n    methods: [NoSuchRpc]\n",
    )]);
    for _ in 0..200 {
        if get(server.http, "/metrics")
            .await
            .1
            .contains("argocd_repo_server_authorization_policy_reloads_total{result=\"error\"} 1")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(logs()
        .text()
        .contains("Authorization policy update rejected"));
    assert_eq!(
        codes(server.grpc, Some(stranger)).await.0,
        Code::InvalidArgument
    );
    assert!(get(server.http, "/metrics").await.1.contains("argocd_repo_server_permission_denied_total{grpc_path=\"/repository.RepoServerService/ListRefs\"}"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_policy_refuses_to_start_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(
        &path,
        "rules:\n  - identities: [a]\n    methods: [GenerateManifestz]\n",
    )
    .unwrap();
    let mut config = config(Some(tls(dir.path())));
    config.authorization_policy = Some(path);
    logs();
    let err = repo_server::start(config)
        .await
        .err()
        .expect("must not start")
        .to_string();
    assert!(err.contains("policy.yaml:3: unknown method"), "{err}");
}

#[tokio::test]
async fn permissive_mode_serves_and_counts_anonymous_clients_but_verifies_presented_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("permissive-ca");
    ca.issue(&Leaf::server()).write(dir.path(), "tls");
    std::fs::write(dir.path().join("client-ca.crt"), &ca.cert).unwrap();
    let mut settings = tls(dir.path());
    settings.client_auth_required = false;
    let server = start(Some(settings)).await;
    assert!(server.mtls);
    // Anonymous: served, warned, counted.
    assert_eq!(codes(server.grpc, None).await.1, Code::Ok);
    let (_, metrics) = get(server.http, "/metrics").await;
    assert!(
        metrics.contains("argocd_repo_server_unauthenticated_requests_total{grpc_path=\"/version.VersionService/Version\"} 1"),
        "{metrics}"
    );
    assert!(logs()
        .text()
        .contains("Unauthenticated request served (permissive client auth mode)"));
    // A presented certificate is still verified in full.
    let foreign = Ca::new("foreign")
        .issue(&Leaf::client("x"))
        .write(dir.path(), "foreign");
    let err = health(
        server.grpc,
        Some(connector(ServerTrust::Insecure, Some(foreign))),
    )
    .await
    .unwrap_err();
    assert!(err.ends_with("transport error"), "{err}");
    expect_rejections(server.http, "unknown_ca", 1).await;
    assert_eq!(rejections(server.http, "unknown_ca").await, 1);
    // A valid one is served with its identity.
    let good = identity(&ca, dir.path(), "migrated-component");
    assert_eq!(codes(server.grpc, Some(good)).await.1, Code::Ok);
    server.stop().await.unwrap();
}
