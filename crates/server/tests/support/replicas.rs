//! Several servers sharing one Redis, as replicas behind a Service: each with its own engine
//! (memory cache, git cache, Redis client), ports and mTLS, and a controller client. Renders
//! are observable: the test chart puts a random nonce in each render, so two answers with the
//! same nonce come from one render. Included with `#[path]` next to `repos.rs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use repo_client::RepoServerServiceClient;
use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::ApplicationSource;
use repo_server::config::{Compression, Redis, Server};
use tonic::transport::Channel;

use super::repos;

/// A chart whose every render differs: a ConfigMap holding a random nonce.
pub(crate) const CHART: &[(&str, &str)] = &[
    (
        "chart/Chart.yaml",
        "apiVersion: v2\nname: nonce\nversion: 0.1.0\n",
    ),
    (
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nonce\ndata:\n  nonce: {{ randAlphaNum 32 | quote }}\n",
    ),
];

/// Redis settings for a plain server on 127.0.0.1 at `port`, upstream's defaults otherwise.
pub(crate) fn redis(port: u16) -> Redis {
    Redis {
        server: Server::Single {
            host: "127.0.0.1".into(),
            port,
        },
        db: 0,
        username: None,
        password: None,
        sentinel_username: None,
        sentinel_password: None,
        tls: None,
        compression: Compression::Gzip,
        key_prefix: String::new(),
        lock_timeout: Duration::from_secs(10),
    }
}

/// One replica: a started server and a client with the application controller's identity.
pub(crate) struct Replica {
    pub server: repo_server::Running,
    pub client: RepoServerServiceClient<Channel>,
    /// Its certificates and private caches.
    pub dir: PathBuf,
}

impl Replica {
    /// A replica sharing `redis`; its files under `dir/<name>`.
    pub(crate) async fn start(dir: &Path, name: &str, redis: Redis) -> Self {
        Self::with(dir, name, redis, |_| {}).await
    }

    /// [`Replica::start`] with its engine settings adjusted.
    pub(crate) async fn with(
        dir: &Path,
        name: &str,
        redis: Redis,
        adjust: impl FnOnce(&mut repo_server::config::Engine),
    ) -> Self {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut engine = super::support::engine();
        engine.redis = Some(redis);
        adjust(&mut engine);
        let (server, client) = repos::client_with(&dir, engine).await;
        Self {
            server,
            client,
            dir,
        }
    }

    /// The nonce of the app `app` rendered from the chart at `url`; panics on a failed call.
    pub(crate) async fn nonce(&self, url: &str, app: &str) -> String {
        let response = self
            .client
            .clone()
            .generate_manifest(request(url, app))
            .await
            .unwrap_or_else(|s| panic!("GenerateManifest {app}: {s:?}"))
            .into_inner();
        nonce(&response.manifests)
    }

    /// The value of the metric series `series` on this replica (0 when absent).
    pub(crate) async fn metric(&self, series: &str) -> u64 {
        super::support::metric(self.server.http, series)
            .await
            .unwrap_or(0)
    }
}

/// GenerateManifest of the chart at `url`, path `chart`, for the app `app`.
pub(crate) fn request(url: &str, app: &str) -> ManifestRequest {
    ManifestRequest {
        repo: repos::repo_message(url),
        revision: "main".into(),
        app_name: app.into(),
        namespace: "default".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.to_string()),
            path: Some("chart".into()),
            target_revision: Some("main".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The nonce in rendered manifests.
pub(crate) fn nonce(manifests: &[String]) -> String {
    let objects = repos::objects(manifests);
    objects
        .iter()
        .find_map(|o| o["data"]["nonce"].as_str())
        .unwrap_or_else(|| panic!("no nonce in {manifests:?}"))
        .to_string()
}

/// The Redis names of the manifest entries (upstream's `mfst|…`).
pub(crate) fn manifest_names(redis: &repo_testkit::redis::Instance) -> Vec<String> {
    match redis.command(&["KEYS", "mfst|*"]) {
        repo_testkit::redis::Reply::Array(Some(keys)) => keys.iter().map(|k| k.text()).collect(),
        other => panic!("KEYS: {other:?}"),
    }
}

/// Waits (polling, bounded only against hanging) until `done` returns a value.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut done: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..1200 {
        if let Some(value) = done().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within a minute");
}
