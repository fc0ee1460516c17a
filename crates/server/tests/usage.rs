//! Chargeback over real mTLS connections: what a render costs (a Helm chart whose templates
//! burn CPU in the real helm) is charged to the identity that asked and to its repository,
//! and a second identity's renders are not charged to the first.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::net::SocketAddr;
use std::path::Path;

use repo_client::RepoServerServiceClient;
use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::ApplicationSource;
use repo_testkit::{Ca, Leaf};
use repo_tls::ServerTrust;
use support::*;
use tonic::transport::Channel;

/// A chart whose template hashes 20,000 strings before writing one ConfigMap.
const BURNING_TEMPLATE: &str =
    "{{- range $i := until 20000 }}{{- $_ := sha256sum (toString $i) }}{{- end }}\n\
apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: burn\ndata:\n  a: \"1\"\n";

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n";

async fn client(
    addr: SocketAddr,
    ca: &Ca,
    dir: &Path,
    cn: &str,
) -> RepoServerServiceClient<Channel> {
    let id = ca.issue(&Leaf::client(cn)).write(dir, cn);
    let channel = repo_client::open(
        &addr.to_string(),
        Some(connector(ServerTrust::Insecure, Some(id))),
        None,
    )
    .await
    .unwrap();
    RepoServerServiceClient::new(channel)
}

fn request(url: &str, path: &str) -> ManifestRequest {
    ManifestRequest {
        repo: repos::repo_message(url),
        revision: "HEAD".into(),
        app_name: "app".into(),
        namespace: "default".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some("HEAD".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every series of the chargeback families, as (name{labels}, value).
async fn usage(http: SocketAddr) -> Vec<(String, f64)> {
    let (_, body) = get(http, "/metrics").await;
    body.lines()
        .filter(|l| {
            l.starts_with("argocd_repo_server_render")
                || l.starts_with("argocd_repo_server_repo_render")
        })
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn value(rows: &[(String, f64)], series: &str) -> f64 {
    rows.iter()
        .find(|(s, _)| s == series)
        .map_or(0.0, |(_, v)| *v)
}

#[tokio::test]
async fn renders_are_charged_to_the_identity_that_asked_and_its_repository() {
    if !repos::tool("helm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("usage-ca");
    mtls_files(dir.path(), &ca);
    logs();
    let server = repo_server::start(config(Some(tls(dir.path()))))
        .await
        .expect("server starts");
    let (_, chart_url) = repos::repository(
        dir.path(),
        "charts",
        &[
            (
                "burn/Chart.yaml",
                "apiVersion: v2\nname: burn\nversion: 1.0.0\n",
            ),
            ("burn/templates/cm.yaml", BURNING_TEMPLATE),
        ],
    );
    let (_, plain_url) = repos::repository(dir.path(), "plain", &[("app/cm.yaml", CONFIGMAP)]);
    let chart_repo = repo_source::normalize(&chart_url);
    let plain_repo = repo_source::normalize(&plain_url);
    let mut team_a = client(server.grpc, &ca, dir.path(), "team-a").await;
    let mut team_b = client(server.grpc, &ca, dir.path(), "team-b").await;

    // team-a renders the chart: helm's CPU is charged to team-a and to the chart's repository.
    let chart = team_a
        .generate_manifest(request(&chart_url, "burn"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(chart.manifests.len(), 1, "{chart:?}");
    let after_a = usage(server.http).await;
    let a_tools = value(
        &after_a,
        "argocd_repo_server_render_cpu_seconds_total{identity=\"team-a\",part=\"tools\"}",
    );
    assert!(a_tools > 0.0, "{after_a:?}");
    assert_eq!(
        value(
            &after_a,
            "argocd_repo_server_renders_total{identity=\"team-a\"}"
        ),
        1.0
    );
    assert!(
        value(
            &after_a,
            "argocd_repo_server_render_seconds_total{identity=\"team-a\"}"
        ) > 0.0
    );
    let repo_tools = format!(
        "argocd_repo_server_repo_render_cpu_seconds_total{{repo=\"{chart_repo}\",part=\"tools\"}}"
    );
    assert_eq!(value(&after_a, &repo_tools), a_tools, "{after_a:?}");
    assert!(
        !after_a.iter().any(|(s, _)| s.contains("team-b")),
        "{after_a:?}"
    );

    // team-b renders another repository and asks for the chart again (a cache hit, no
    // render): team-a's figures do not move, team-b is charged for its own render only.
    let plain = team_b
        .generate_manifest(request(&plain_url, "app"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plain.manifests.len(), 1);
    let hit = team_b
        .generate_manifest(request(&chart_url, "burn"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hit.manifests, chart.manifests);
    let after_b = usage(server.http).await;
    for (series, v) in after_a.iter().filter(|(s, _)| s.contains("team-a")) {
        assert_eq!(value(&after_b, series), *v, "{series} changed");
    }
    assert_eq!(
        value(
            &after_b,
            "argocd_repo_server_renders_total{identity=\"team-b\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &after_b,
            "argocd_repo_server_render_cpu_seconds_total{identity=\"team-b\",part=\"tools\"}"
        ),
        0.0
    );
    // A Directory app runs no tool: its cost is the server's own thread time.
    let b_server =
        "argocd_repo_server_render_cpu_seconds_total{identity=\"team-b\",part=\"server\"}";
    assert!(value(&after_b, b_server) > 0.0, "{after_b:?}");
    assert_eq!(
        value(
            &after_b,
            &format!("argocd_repo_server_repo_renders_total{{repo=\"{plain_repo}\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &after_b,
            &format!("argocd_repo_server_repo_renders_total{{repo=\"{chart_repo}\"}}")
        ),
        1.0
    );
    // Nothing but the two callers and `other`, in each family.
    let identities: std::collections::BTreeSet<&str> = after_b
        .iter()
        .filter(|(s, _)| s.starts_with("argocd_repo_server_renders_total"))
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(identities.len(), 3, "{identities:?}");
    server.stop().await.unwrap();
}
