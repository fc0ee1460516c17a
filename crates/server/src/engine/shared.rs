//! The replicas' shared cache over Redis: the connection from the server's settings and the
//! shared ref listings of git (the manifests' store and locks are `upstream::Shared`). Every
//! Redis failure is a miss (or a granted lock): the replica carries on as it would alone.

use std::sync::Arc;
use std::time::Duration;

use repo_git::SharedRefs;
use repo_redis::Redis;

use crate::config;
use crate::metrics::Metrics;

/// The longest one Redis command may take; past it the call is a miss. A loopback or
/// in-cluster round trip takes well under a millisecond, a large value a few.
const TIMEOUT: Duration = Duration::from_secs(1);

/// Starts connecting in the background (the server serves while Redis is down).
pub(super) fn connect(settings: &config::Redis, metrics: &Arc<Metrics>) -> Result<Redis, String> {
    let redis = repo_redis::Settings {
        server: settings.server.clone(),
        db: settings.db,
        username: settings.username.clone(),
        password: settings.password.clone(),
        sentinel_username: settings.sentinel_username.clone(),
        sentinel_password: settings.sentinel_password.clone(),
        tls: settings.tls.as_ref().map(|t| repo_redis::Tls {
            ca: t.ca.clone(),
            client: t.client.clone(),
            insecure_skip_verify: t.insecure,
        }),
        compression: settings.compression,
        prefix: settings.key_prefix.clone(),
        timeout: TIMEOUT,
    };
    let client = Redis::new(redis, Arc::new(metrics.redis.clone())).map_err(|e| e.to_string())?;
    let servers = match &settings.server {
        repo_redis::Server::Single { host, port } => format!("{host}:{port}"),
        repo_redis::Server::Sentinel { hosts, master } => {
            format!("master {master:?} of {} sentinels", hosts.len())
        }
    };
    tracing::info!(redis = %servers, tls = settings.tls.is_some(), "manifests and ref listings are shared with the other replicas through Redis (connecting in the background)");
    Ok(client)
}

/// Ref listings of credential-less repositories: upstream's `git-refs|<url>` entries (git
/// decides which repositories qualify).
pub(super) struct GitRefs(pub(super) Redis);

fn refs_name(url: &str) -> String {
    format!("git-refs|{url}")
}

impl SharedRefs for GitRefs {
    fn get<'a>(&'a self, url: &'a str) -> repo_git::Pending<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.0.get(&refs_name(url)).await.ok().flatten() })
    }

    fn put<'a>(&'a self, url: &'a str, value: Vec<u8>, ttl: Duration) -> repo_git::Pending<'a, ()> {
        Box::pin(async move {
            let _ = self.0.set(&refs_name(url), value, ttl).await;
        })
    }

    fn try_lock<'a>(
        &'a self,
        url: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> repo_git::Pending<'a, bool> {
        Box::pin(
            async move { (self.0.try_lock(&refs_name(url), owner, ttl).await).unwrap_or(true) },
        )
    }

    fn unlock<'a>(&'a self, url: &'a str, owner: &'a str) -> repo_git::Pending<'a, ()> {
        Box::pin(async move {
            let _ = self.0.unlock(&refs_name(url), owner).await;
        })
    }
}
