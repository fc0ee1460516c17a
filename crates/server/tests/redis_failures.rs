//! Redis failing never fails a request: replicas start and serve while Redis is down, keep
//! serving while it is killed or its Sentinel master fails over under load, and share again
//! once it is back. Credentials and TLS with a client certificate, as upstream's flags give
//! them. Equal nonces from the test chart mean one render.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use repo_server::config::{RedisTls, Secret, Server};
use repo_testkit::redis::{Group, Instance, Options, Tools, MASTER};

#[path = "support/replicas.rs"]
mod replicas;
#[path = "support/repos.rs"]
mod repos;
mod support;

use replicas::{eventually, redis, Replica, CHART};

/// Redis and helm, or `None` (skipped outside CI).
fn ready() -> Option<Tools> {
    let tools = Tools::find()?;
    repos::tool("helm").then_some(tools)
}

/// Calls GenerateManifest on the replicas in turn until told to stop: new apps (renders and
/// writes) and known ones (reads). Counts the calls and panics on the first that fails.
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(replicas: Arc<Vec<Replica>>, url: String) -> Self {
        let (stop, calls) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let task = tokio::spawn({
            let (stop, calls) = (stop.clone(), calls.clone());
            async move {
                let mut n = 0usize;
                while !stop.load(Relaxed) {
                    let replica = &replicas[n % replicas.len()];
                    // Every other call asks again for an app an earlier call rendered.
                    let app = match n % 2 {
                        0 => format!("load-{n}"),
                        _ => format!("load-{}", n - 1),
                    };
                    let mut client = replica.client.clone();
                    if let Err(status) = client
                        .generate_manifest(replicas::request(&url, &app))
                        .await
                    {
                        panic!("call {n} ({app}) failed: {status:?}");
                    }
                    calls.fetch_add(1, Relaxed);
                    n += 1;
                }
            }
        });
        Self { stop, calls, task }
    }

    /// Waits until `more` calls have succeeded since now.
    async fn after(&self, more: u64) {
        let until = self.calls.load(Relaxed) + more;
        eventually("calls go on", || async {
            (self.calls.load(Relaxed) >= until).then_some(())
        })
        .await;
    }

    /// Stops and fails the test if a call failed.
    async fn finish(self) -> u64 {
        self.stop.store(true, Relaxed);
        self.task.await.expect("no call failed");
        self.calls.load(Relaxed)
    }
}

/// Waits until an app rendered on one replica is a hit on another.
async fn sharing(replicas: &[Replica], url: &str, tag: &str) {
    let mut n = 0;
    eventually("replicas share again", || {
        n += 1;
        let app = format!("{tag}-{n}");
        async move {
            let first = replicas[0].nonce(url, &app).await;
            (replicas[1].nonce(url, &app).await == first).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_start_and_serve_while_redis_is_down_then_share() {
    let Some(tools) = ready() else { return };
    let mut server = Instance::server(&tools, &Options::default());
    server.kill();
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let r1 = Replica::start(dir.path(), "r1", redis(server.port)).await;
    let r2 = Replica::start(dir.path(), "r2", redis(server.port)).await;
    // Served without Redis: each replica renders for itself.
    let a = r1.nonce(&url, "app").await;
    assert_eq!(r1.nonce(&url, "app").await, a, "the memory tier answers");
    assert_ne!(r2.nonce(&url, "app").await, a);
    let failed = "argocd_redis_request_total{initiator=\"argocd-repo-server\",command=\"get\",failed=\"true\"}";
    assert!(r1.metric(failed).await > 0);
    server.start();
    sharing(&[r1, r2], &url, "after-start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_under_load_fails_no_call_and_sharing_resumes() {
    let Some(tools) = ready() else { return };
    let mut server = Instance::server(&tools, &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let mut replicas = Vec::new();
    for name in ["r1", "r2", "r3"] {
        replicas.push(Replica::start(dir.path(), name, redis(server.port)).await);
    }
    let replicas = Arc::new(replicas);
    let load = Load::start(replicas.clone(), url.clone());
    load.after(10).await;
    server.kill();
    load.after(20).await;
    server.start();
    load.after(10).await;
    let calls = load.finish().await;
    assert!(calls >= 40, "{calls}");
    sharing(&replicas, &url, "after-restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_failover_under_load_fails_no_call() {
    let Some(tools) = ready() else { return };
    let options = Options {
        password: Some("redis-pw".into()),
        ..Options::default()
    };
    let mut group = Group::start(&tools, &options, Some("sentinel-pw"));
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let mut settings = redis(0);
    settings.server = Server::Sentinel {
        hosts: group.hosts(),
        master: MASTER.into(),
    };
    settings.password = Some(Secret::new("redis-pw"));
    settings.sentinel_password = Some(Secret::new("sentinel-pw"));
    let mut replicas = Vec::new();
    for name in ["r1", "r2"] {
        replicas.push(Replica::start(dir.path(), name, settings.clone()).await);
    }
    sharing(&replicas, &url, "before").await;
    let replicas = Arc::new(replicas);
    let old = group.master_port();
    let load = Load::start(replicas.clone(), url.clone());
    load.after(10).await;
    group.master.kill();
    eventually("the sentinels promote the replica", || async {
        (group.master_port() != old).then_some(())
    })
    .await;
    load.after(20).await;
    load.finish().await;
    assert_eq!(group.master_port(), group.replica.port);
    sharing(&replicas, &url, "after-failover").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acl_user_and_password_are_used_and_never_shown() {
    let Some(tools) = ready() else { return };
    let options = Options {
        user: Some(("argocd".into(), "s3cret-pw".into())),
        ..Options::default()
    };
    let server = Instance::server(&tools, &options);
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let mut settings = redis(server.port);
    settings.username = Some("argocd".into());
    settings.password = Some(Secret::new("s3cret-pw"));
    let r1 = Replica::start(dir.path(), "r1", settings.clone()).await;
    let r2 = Replica::start(dir.path(), "r2", settings.clone()).await;
    sharing(&[r1, r2], &url, "acl").await;
    assert!(!replicas::manifest_names(&server).is_empty());
    // A wrong password: served all the same, unshared, and the password is not logged.
    settings.password = Some(Secret::new("wr0ng-pw"));
    let wrong = Replica::start(dir.path(), "wrong", settings).await;
    let a = wrong.nonce(&url, "wrong-pw").await;
    assert_eq!(wrong.nonce(&url, "wrong-pw").await, a);
    let logs = support::logs().text();
    assert!(!logs.contains("s3cret-pw") && !logs.contains("wr0ng-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_with_a_client_certificate() {
    let Some(tools) = ready() else { return };
    let options = Options {
        tls: true,
        ..Options::default()
    };
    let server = Instance::server(&tools, &options);
    let files = server.tls.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repos::repository(dir.path(), "repo", CHART);
    let mut settings = redis(server.port);
    settings.tls = Some(RedisTls {
        ca: Some(files.ca.clone()),
        client: Some((files.client_cert.clone(), files.client_key.clone())),
        insecure: false,
    });
    let r1 = Replica::start(dir.path(), "r1", settings.clone()).await;
    let r2 = Replica::start(dir.path(), "r2", settings.clone()).await;
    sharing(&[r1, r2], &url, "tls").await;
    // Without the client certificate the server refuses: served, not shared.
    settings.tls = Some(RedisTls {
        ca: Some(files.ca),
        client: None,
        insecure: false,
    });
    let r3 = Replica::start(dir.path(), "r3", settings.clone()).await;
    let r4 = Replica::start(dir.path(), "r4", settings).await;
    let a = r3.nonce(&url, "no-cert").await;
    assert_ne!(r4.nonce(&url, "no-cert").await, a);
}
