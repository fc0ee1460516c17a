//! Replicas sharing one Redis (Debian's redis-server, started here): a render on one is a hit
//! on the others, a burst across them renders once, entries expire, a restarted replica
//! starts warm, a damaged entry is rendered again. Each render of the test chart holds a new
//! random nonce, so equal nonces mean one render.

use std::collections::HashSet;
use std::time::Duration;

use repo_proto::repository::{ManifestRequest, UpdateRevisionForPathsRequest};
use repo_testkit::redis::{Instance, Options, Reply, Tools};

#[path = "support/replicas.rs"]
mod replicas;
#[path = "support/repos.rs"]
mod repos;
mod support;

use replicas::{manifest_names, redis, Replica, CHART};

/// Redis and helm, or `None` (skipped outside CI).
fn ready() -> Option<Tools> {
    let tools = Tools::find()?;
    repos::tool("helm").then_some(tools)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_render_on_one_replica_is_a_hit_on_the_others() {
    let Some(tools) = ready() else { return };
    let server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let mut replicas = Vec::new();
    for name in ["r1", "r2", "r3"] {
        replicas.push(Replica::start(dir.path(), name, redis(server.port)).await);
    }
    let first = replicas[0].nonce(&url, "app").await;
    // The entry is upstream's: mfst|… with the cache version, gzipped.
    let names = manifest_names(&server);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("|1.8.3.gz"), "{names:?}");
    for replica in &replicas[1..] {
        assert_eq!(replica.nonce(&url, "app").await, first, "rendered again");
    }
    // Another app is another entry, rendered anew.
    assert_ne!(replicas[1].nonce(&url, "other").await, first);
    assert_eq!(
        replicas[2].nonce(&url, "other").await,
        replicas[0].nonce(&url, "other").await
    );
    let gets = "argocd_redis_request_total{initiator=\"argocd-repo-server\",command=\"get\",failed=\"false\"}";
    assert!(replicas[1].metric(gets).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_across_replicas_renders_once() {
    let Some(tools) = ready() else { return };
    let server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let mut replicas = Vec::new();
    for name in ["r1", "r2", "r3"] {
        replicas.push(Replica::start(dir.path(), name, redis(server.port)).await);
    }
    for app in ["burst-a", "burst-b", "burst-c"] {
        let calls = (0..30).map(|i| {
            let replica = &replicas[i % replicas.len()];
            replica.nonce(&url, app)
        });
        let nonces: HashSet<String> = futures_util::future::join_all(calls)
            .await
            .into_iter()
            .collect();
        assert_eq!(nonces.len(), 1, "{app} rendered {} times", nonces.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entries_expire_with_the_repo_cache_expiration() {
    let Some(tools) = ready() else { return };
    let server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let short = |e: &mut repo_server::config::Engine| e.expiry.repo = Duration::from_secs(2);
    let r1 = Replica::with(dir.path(), "r1", redis(server.port), short).await;
    let r2 = Replica::with(dir.path(), "r2", redis(server.port), short).await;
    let first = r1.nonce(&url, "app").await;
    let name = manifest_names(&server).pop().unwrap();
    match server.command(&["PTTL", &name]) {
        Reply::Int(ms) => assert!(ms > 0 && ms <= 2000, "PTTL {ms}"),
        other => panic!("PTTL: {other:?}"),
    }
    assert_eq!(r2.nonce(&url, "app").await, first);
    replicas::eventually("the entry expires in Redis", || async {
        manifest_names(&server).is_empty().then_some(())
    })
    .await;
    // Gone from Redis and from the writer's memory (same TTL, written first). A replica that
    // read it from Redis keeps its copy for up to a TTL from that read.
    let again = r1.nonce(&url, "app").await;
    assert_ne!(again, first, "served after its expiry");
    let r3 = Replica::with(dir.path(), "r3", redis(server.port), short).await;
    assert_eq!(r3.nonce(&url, "app").await, again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_replica_starts_warm() {
    let Some(tools) = ready() else { return };
    let server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let r1 = Replica::start(dir.path(), "r1", redis(server.port)).await;
    let first = r1.nonce(&url, "app").await;
    r1.server.stop().await.unwrap();
    // A new process: empty memory, empty git cache.
    let again = Replica::start(dir.path(), "r1-again", redis(server.port)).await;
    assert_eq!(again.nonce(&url, "app").await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_entry_is_rendered_again_and_replaced() {
    let Some(tools) = ready() else { return };
    let server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let r1 = Replica::start(dir.path(), "r1", redis(server.port)).await;
    let r2 = Replica::start(dir.path(), "r2", redis(server.port)).await;
    let r3 = Replica::start(dir.path(), "r3", redis(server.port)).await;
    let first = r1.nonce(&url, "app").await;
    let name = manifest_names(&server).pop().unwrap();
    let Reply::Bulk(Some(mut value)) = server.command(&["GET", &name]) else {
        panic!("no value under {name}");
    };
    // A torn write: the gzip stream cut short.
    value.truncate(value.len() / 2);
    server.command(&[b"SET".as_slice(), name.as_bytes(), value.as_slice()]);
    let rendered = r2.nonce(&url, "app").await;
    assert_ne!(rendered, first, "a damaged entry was served");
    const CORRUPT: &str = "argocd_repo_server_cache_corrupt_total";
    // Counted per read: the lookup, and again under the render lock.
    assert!(r2.metric(CORRUPT).await >= 1);
    // The new render replaced it: a third replica reads it.
    assert_eq!(r3.nonce(&url, "app").await, rendered);
    // Valid JSON whose content does not match its hash (upstream's check) is damaged too.
    let Reply::Bulk(Some(value)) = server.command(&["GET", &name]) else {
        panic!("no value under {name}");
    };
    let json = gunzip(&value);
    let forged = json.replacen(&rendered, &"x".repeat(rendered.len()), 1);
    assert_ne!(forged, json);
    server.command(&[b"SET".as_slice(), name.as_bytes(), &gzip(forged.as_bytes())]);
    let r4 = Replica::start(dir.path(), "r4", redis(server.port)).await;
    let fresh = r4.nonce(&url, "app").await;
    assert!(fresh != rendered && !fresh.starts_with("xxxx"), "{fresh}");
    assert!(r4.metric(CORRUPT).await >= 1);
    assert_eq!(r1.metric(CORRUPT).await, 0);
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_to_the_next_commit_on_one_replica_serves_the_others() {
    let Some(tools) = ready() else { return };
    let server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (repo, url) = repos::repository(dir.path(), "repo", CHART);
    let synced = repos::git(&repo, &["rev-parse", "HEAD"]);
    let r1 = Replica::start(dir.path(), "r1", redis(server.port)).await;
    let r2 = Replica::start(dir.path(), "r2", redis(server.port)).await;
    let r3 = Replica::start(dir.path(), "r3", redis(server.port)).await;
    let first = r1.nonce(&url, "app").await;
    let next = repos::commit(&repo, &[("docs/readme.txt", "not the chart")]);
    // Upstream's controller asks whether the new commit touches the app's paths; r2 never
    // rendered the app.
    let generate = replicas::request(&url, "app");
    let reply = r2
        .client
        .clone()
        .update_revision_for_paths(UpdateRevisionForPathsRequest {
            repo: generate.repo.clone(),
            revision: "main".into(),
            synced_revision: synced,
            paths: vec!["chart".into()],
            app_name: generate.app_name.clone(),
            namespace: generate.namespace.clone(),
            app_label_key: generate.app_label_key.clone(),
            application_source: generate.application_source.clone(),
            no_revision_cache: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.changes, reply.revision.as_str()),
        (false, next.as_str())
    );
    // The entry moved in Redis: r3 serves it at the new commit without rendering.
    let fresh = ManifestRequest {
        no_revision_cache: true,
        ..generate
    };
    let response = r3
        .client
        .clone()
        .generate_manifest(fresh)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.revision, next);
    assert_eq!(replicas::nonce(&response.manifests), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ref_listings_are_shared_for_repositories_without_credentials_only() {
    let Some(tools) = ready() else { return };
    let server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (repo, url) = repos::repository(dir.path(), "repo", CHART);
    let listed = repos::git(&repo, &["rev-parse", "HEAD"]);
    let r1 = Replica::start(dir.path(), "r1", redis(server.port)).await;
    let r2 = Replica::start(dir.path(), "r2", redis(server.port)).await;
    let revision = |replica: &Replica, creds: bool| {
        let mut client = replica.client.clone();
        let mut request = replicas::request(&url, "app");
        if creds {
            let repo = request.repo.as_mut().unwrap();
            repo.username = Some("user".into());
            repo.password = Some("pw".into());
        }
        async move {
            let response = client.generate_manifest(request).await.unwrap();
            response.into_inner().revision
        }
    };
    assert_eq!(revision(&r1, false).await, listed);
    let names = match server.command(&["KEYS", "git-refs|*"]) {
        Reply::Array(Some(keys)) => keys.iter().map(|k| k.text()).collect::<Vec<_>>(),
        other => panic!("KEYS: {other:?}"),
    };
    assert_eq!(names.len(), 1, "{names:?}");
    let next = repos::commit(&repo, &[("docs/readme.txt", "x")]);
    // r2 never listed the repository: without credentials it takes r1's listing (still
    // within --revision-cache-expiration), with credentials it lists for itself.
    assert_eq!(revision(&r2, false).await, listed);
    assert_eq!(revision(&r2, true).await, next);
}
