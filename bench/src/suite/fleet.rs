//! Replicas of this server behind a round-robin client, sharing one `redis-server` when there
//! are several, and the monorepo scenario `monorepo-burst` and `replicas` run on them: every
//! application of a repository rendered, then one new commit, then every application again.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::fixture::{self, commit_all, manifest_count, manifest_request, Daemon};
use crate::grpc::{Conn, GENERATE_MANIFEST};
use crate::pki::Pki;
use crate::proc::{status_mb, tree_cpu_s};
use crate::scrape::{self, REDIS_REQUESTS, RENDERS};
use crate::suite::{connections, mtls_dialer, Ctx};
use crate::system::{self, Extra, Ours, Process, System};

/// In-flight requests, as a controller's processors would send them.
pub(crate) const CONCURRENCY: usize = 16;
/// mTLS connections the client keeps to each replica.
const CONNECTIONS_PER_REPLICA: usize = 2;

/// `n` replicas with mTLS and empty caches; with more than one, Redis too.
pub(crate) struct Fleet {
    pub replicas: Vec<System>,
    /// Dropped after the replicas (fields drop in order).
    pub redis: Option<(Process, SocketAddr)>,
}

impl Fleet {
    pub(crate) fn start(
        ctx: &Ctx,
        pki: &Pki,
        work: &Path,
        tag: &str,
        n: usize,
    ) -> anyhow::Result<Self> {
        let redis = match n > 1 {
            true => Some(system::redis(&ctx.layout, tag)?),
            false => None,
        };
        let extra = Extra {
            redis: redis.as_ref().map(|(_, addr)| *addr),
            ..Extra::default()
        };
        let replicas = (0..n)
            .map(|i| {
                Ours {
                    pki: Some(pki),
                    cache: work.join(format!("cache-{tag}-{i}")),
                }
                .start_with(&ctx.layout, &format!("{tag}-{i}"), &extra)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { replicas, redis })
    }

    /// Connections interleaved by replica: request `i` on `conns[i % len]` goes to replica
    /// `i % n`.
    pub(crate) async fn conns(&self, pki: &Pki) -> anyhow::Result<Vec<Conn>> {
        let mut per_replica = Vec::new();
        for replica in &self.replicas {
            let dialer = mtls_dialer(replica, pki, false)?;
            per_replica.push(connections(&dialer, CONNECTIONS_PER_REPLICA).await?);
        }
        let mut out = Vec::new();
        for c in 0..CONNECTIONS_PER_REPLICA {
            out.extend(per_replica.iter().map(|conns| conns[c].clone()));
        }
        Ok(out)
    }

    /// The replicas' and Redis' processes, whose CPU the scenario costs.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.replicas.iter().map(System::main_pid).collect();
        pids.extend(self.redis.as_ref().map(|(p, _)| p.pid()));
        pids
    }

    pub(crate) fn cpu_s(&self) -> f64 {
        self.pids().into_iter().map(tree_cpu_s).sum()
    }

    /// A counter summed over every replica.
    pub(crate) async fn total(&self, metric: &str) -> anyhow::Result<f64> {
        scrape::total_of(self.replicas.iter().filter_map(|r| r.metrics), metric).await
    }

    /// Peak resident memory of each replica, in MB.
    pub(crate) fn peak_rss_mb(&self) -> Vec<f64> {
        self.replicas
            .iter()
            .map(|r| status_mb(r.main_pid(), "VmHWM"))
            .collect()
    }
}

/// What one burst cost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Burst {
    pub requests: usize,
    pub wall_s: f64,
    /// The replicas' process trees (tools included) and Redis.
    pub cpu_s: f64,
    pub renders: f64,
    pub redis_requests: f64,
}

impl Burst {
    /// Generates every app at `revision`, `CONCURRENCY` at a time, request `i` on
    /// `conns[(i + shift) % len]`.
    pub(crate) async fn run(
        fleet: &Fleet,
        conns: &[Conn],
        shift: usize,
        url: &str,
        apps: &[String],
        revision: &str,
    ) -> anyhow::Result<Self> {
        let (renders, redis, cpu) = (
            fleet.total(RENDERS).await?,
            fleet.total(REDIS_REQUESTS).await?,
            fleet.cpu_s(),
        );
        let queue: Vec<(usize, String)> = apps.iter().cloned().enumerate().collect();
        let queue = Arc::new(parking_lot::Mutex::new(queue));
        let conns: Arc<[Conn]> = conns.into();
        let start = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (queue, conns) = (queue.clone(), conns.clone());
                let (url, revision) = (url.to_string(), revision.to_string());
                tokio::spawn(async move {
                    loop {
                        let Some((i, path)) = queue.lock().pop() else {
                            return anyhow::Ok(());
                        };
                        let mut conn = conns[(i + shift) % conns.len()].clone();
                        let name = path.rsplit('/').next().unwrap_or("app").to_string();
                        let request = manifest_request(&url, &path, &revision, &name);
                        let response = conn.unary(GENERATE_MANIFEST, &request).await?;
                        anyhow::ensure!(manifest_count(&response)? > 0, "{path}: no manifests");
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await??;
        }
        let wall_s = start.elapsed().as_secs_f64();
        Ok(Self {
            requests: apps.len(),
            wall_s,
            cpu_s: fleet.cpu_s() - cpu,
            renders: fleet.total(RENDERS).await? - renders,
            redis_requests: fleet.total(REDIS_REQUESTS).await? - redis,
        })
    }
}

/// The monorepo scenario on `n` replicas: every app at the first commit of a copy of `src`
/// (each scenario commits in its own), then one new commit (a file added to the first app),
/// then every app again; the fleet is kept running for more.
pub(crate) struct Scenario {
    pub fleet: Fleet,
    pub conns: Vec<Conn>,
    pub url: String,
    pub revision: String,
    pub initial: Burst,
    pub after_commit: Burst,
}

impl Scenario {
    /// `work` is the benchmark's directory, with the repository in `work/src`.
    pub(crate) async fn run(
        ctx: &Ctx,
        pki: &Pki,
        daemon: &Daemon,
        work: &Path,
        apps: &[String],
        n: usize,
        tag: &str,
    ) -> anyhow::Result<Self> {
        let dir = work.join(format!("scenario-{tag}"));
        let own = dir.join("src");
        fixture::git(
            &work.join("src"),
            &["clone", "-q", ".", &own.display().to_string()],
        )?;
        let first = fixture::git(&own, &["rev-parse", "HEAD"])?;
        let url = daemon.publish(&own, tag)?;
        let fleet = Fleet::start(ctx, pki, &dir, tag, n)?;
        let conns = fleet.conns(pki).await?;
        let initial = Burst::run(&fleet, &conns, 0, &url, apps, &first).await?;
        fixture::write(
            &own,
            &format!("{}/extra.yaml", apps[0]),
            &fixture::configmaps("extra", 1),
        );
        let revision = commit_all(&own, "one more resource")?;
        daemon.publish(&own, tag)?;
        let after_commit = Burst::run(&fleet, &conns, 0, &url, apps, &revision).await?;
        Ok(Self {
            fleet,
            conns,
            url,
            revision,
            initial,
            after_commit,
        })
    }
}

/// A repository of `n` monorepo apps under `work/src`, and `git daemon` to serve its copies.
pub(crate) fn monorepo(work: &Path, n: usize) -> anyhow::Result<(Vec<String>, Daemon)> {
    let src = work.join("src");
    let apps = fixture::monorepo(&src, n);
    commit_all(&src, "monorepo")?;
    let daemon = Daemon::start(&work.join("served"), work)?;
    Ok((apps, daemon))
}
