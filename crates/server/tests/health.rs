//! Health checks as an attacker or a migrating operator sees them: the liveness probe on the
//! unauthenticated metrics port, and certificate-less Health calls in permissive mode.

mod support;

use repo_testkit::Ca;
use repo_tls::ServerTrust;
use support::*;

const HANDSHAKES: &str = "argocd_repo_server_tls_handshakes_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_full_probes_share_one_self_dial() {
    let dir = tempfile::tempdir().unwrap();
    mtls_files(dir.path(), &Ca::new("probe-ca"));
    let server = start(Some(tls(dir.path()))).await;
    assert_eq!(metric(server.http, HANDSHAKES).await, Some(0));
    let probes: Vec<_> = (0..50)
        .map(|_| tokio::spawn(get(server.http, "/healthz?full=true")))
        .collect();
    for probe in probes {
        let (status, body) = probe.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let dials = metric(server.http, HANDSHAKES).await.unwrap();
    println!("50 concurrent full probes: {dials} self-dial(s)");
    assert_eq!(dials, 1);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_mode_counts_and_logs_health_calls_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    mtls_files(dir.path(), &Ca::new("permissive-health-ca"));
    let mut settings = tls(dir.path());
    settings.client_auth_required = false;
    let server = start(Some(settings)).await;
    health(server.grpc, Some(connector(ServerTrust::Insecure, None)))
        .await
        .unwrap();
    let series = "argocd_repo_server_unauthenticated_requests_total{grpc_path=\"/grpc.health.v1.Health/Check\"}";
    assert_eq!(metric(server.http, series).await, Some(1));
    let text = logs().text();
    let line = text
        .lines()
        .find(|l| l.contains("Unauthenticated request served (permissive client auth mode)"))
        .unwrap_or_else(|| panic!("not logged:\n{text}"));
    assert!(
        line.contains("grpc.path=\"/grpc.health.v1.Health/Check\"")
            && line.contains("peer.address=127.0.0.1:"),
        "{line}"
    );
    // The liveness self-dial presents the health identity: not anonymous, not counted.
    assert_eq!(get(server.http, "/healthz?full=true").await.0, 200);
    assert_eq!(metric(server.http, series).await, Some(1));
    server.stop().await.unwrap();
}
