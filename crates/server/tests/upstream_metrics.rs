//! Upstream's repo-server metrics that dashboards and autoscalers read, scraped from the real
//! metrics endpoint: git failure counters, the pending-requests gauge while renders wait for
//! a `--parallelismlimit` slot, and the process metrics.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::Path;

use repo_proto::repository::{ListRefsRequest, ManifestRequest};
use repo_proto::v1alpha1::ApplicationSource;
use support::*;

fn manifest_request(url: &str, path: &str, revision: &str) -> ManifestRequest {
    ManifestRequest {
        repo: repos::repo_message(url),
        revision: revision.to_string(),
        app_name: path.to_string(),
        namespace: "prod".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.to_string()),
            path: Some(path.to_string()),
            target_revision: Some(revision.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A float sample of the exposition, if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    let key = format!("{series} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_listings_and_fetches_are_counted_by_repository() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "origin", &[("app/cm.yaml", "kind: x\n")]);
    let (server, mut client) = repos::client(dir.path()).await;
    let missing = format!("file://{}/missing", dir.path().display());
    let listing = format!("argocd_git_lsremote_fail_total{{repo=\"{missing}\"}}");
    assert_eq!(metric(server.http, &listing).await, None);
    let refused = client
        .list_refs(ListRefsRequest {
            repo: repos::repo_message(&missing),
        })
        .await;
    assert!(refused.is_err());
    assert_eq!(metric(server.http, &listing).await, Some(1));

    // A full SHA is fetched without a listing; this one is in no repository.
    let fetch = format!("argocd_git_fetch_fail_total{{repo=\"{url}\"}}");
    let absent = "0123456789abcdef0123456789abcdef01234567";
    let refused = client
        .generate_manifest(manifest_request(&url, "app", absent))
        .await;
    assert!(refused.is_err());
    assert!(metric(server.http, &fetch).await >= Some(1), "{fetch}");
    // No series per revision: one per repository, whatever a client asks for.
    let (_, body) = get(server.http, "/metrics").await;
    assert!(!body.contains(absent), "a revision became a label");
    server.stop().await.unwrap();
}

/// A kustomize that answers once `release` exists (Landlock does not cover stat, so the
/// sandboxed script can see it appear).
fn held_kustomize(dir: &Path, release: &Path) -> std::path::PathBuf {
    let script = dir.join("kustomize");
    let body = format!(
        "#!/bin/sh\nif [ \"$1\" = version ]; then echo v5.4.3; exit 0; fi\nwhile [ ! -e '{}' ]; do sleep 0.05; done\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: held\\n'\n",
        release.display()
    );
    std::fs::write(&script, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_requests_rise_while_renders_wait_and_return_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    // Set before the server starts; this test binary runs no other kustomize.
    std::env::set_var("KUSTOMIZE_BIN", held_kustomize(dir.path(), &release));
    let kustomization = "resources: []\n";
    let (_, url) = repos::repository(
        dir.path(),
        "origin",
        &[
            ("a/kustomization.yaml", kustomization),
            ("b/kustomization.yaml", kustomization),
        ],
    );
    let mut engine = engine();
    engine.parallelism = 1;
    let (server, client) = repos::client_with(dir.path(), engine).await;
    let series = format!("argocd_repo_pending_request_total{{repo=\"{url}\"}}");
    let calls: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|app| {
            let mut client = client.clone();
            let request = manifest_request(&url, app, "main");
            tokio::spawn(async move { client.generate_manifest(request).await })
        })
        .collect();
    // One renders (held), the other waits for the only slot: both pending.
    wait_metric(server.http, &series, 2).await;
    std::fs::write(&release, "").unwrap();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(metric(server.http, &series).await, Some(0));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn process_metrics_are_read_at_scrape_time() {
    let server = start(None).await;
    let (_, body) = get(server.http, "/metrics").await;
    let value = |name: &str| sample(&body, name).unwrap_or_else(|| panic!("no {name}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(
        started <= now && started > now - 86_400.0,
        "{started} vs {now}"
    );
    assert!(value("process_cpu_seconds_total") > 0.0);
    let resident = value("process_resident_memory_bytes");
    assert!(resident > 1e6 && resident <= value("process_virtual_memory_bytes"));
    let open = value("process_open_fds");
    assert!(open >= 3.0 && open <= value("process_max_fds"), "{open}");
    server.stop().await.unwrap();
}
