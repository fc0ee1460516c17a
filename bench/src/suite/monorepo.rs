//! `monorepo-burst`: hundreds of applications (directory and kustomize) in one repository;
//! after one new commit, every application is regenerated through gRPC at once.

use std::sync::Arc;
use std::time::Instant;

use crate::fixture::{self, commit_all, manifest_count, manifest_request, Daemon};
use crate::grpc::{Conn, GENERATE_MANIFEST};
use crate::pki::Pki;
use crate::proc::{status_mb, tree_cpu_s};
use crate::suite::{connections, serve, Ctx};
use crate::system::OURS;

const BENCHMARK: &str = "monorepo-burst";
/// In-flight requests, as a controller's processors would send them.
const CONCURRENCY: usize = 16;
const CONNECTIONS: usize = 4;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("monorepo");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let src = work.join("src");
    let apps: Vec<String> = (0..ctx.plan.monorepo_apps)
        .map(|i| {
            let path = format!("apps/app-{i:04}");
            if i % 2 == 0 {
                fixture::write(
                    &src,
                    &format!("{path}/all.yaml"),
                    &fixture::configmaps(&format!("app-{i}"), 10),
                );
            } else {
                fixture::kustomize_app(&src, &path, &format!("app-{i}"));
            }
            path
        })
        .collect();
    commit_all(&src, "monorepo")?;
    let daemon = Daemon::start(&work.join("served"), &work)?;
    let url = daemon.publish(&src, "monorepo")?;
    let (server, dialer) = serve(ctx, &pki, &work, "monorepo")?;
    let conns = connections(&dialer, CONNECTIONS).await?;

    let first = fixture::git(&src, &["rev-parse", "HEAD"])?;
    let cpu_start = tree_cpu_s(server.main_pid());
    let initial = burst(&conns, &url, &apps, &first).await?;
    let initial_cpu = tree_cpu_s(server.main_pid()) - cpu_start;
    fixture::write(
        &src,
        "apps/app-0000/extra.yaml",
        &fixture::configmaps("extra", 1),
    );
    let second = commit_all(&src, "one more resource")?;
    daemon.publish(&src, "monorepo")?;
    let cpu_before = tree_cpu_s(server.main_pid());
    let after_commit = burst(&conns, &url, &apps, &second).await?;
    let cpu = tree_cpu_s(server.main_pid()) - cpu_before;

    let r = &mut ctx.results;
    r.add(BENCHMARK, OURS, "apps", apps.len() as f64, "apps");
    r.add(BENCHMARK, OURS, "initial_wall_s", initial, "s");
    r.add(
        BENCHMARK,
        OURS,
        "initial_server_and_tools_cpu_s",
        initial_cpu,
        "s",
    );
    r.add(BENCHMARK, OURS, "wall_s", after_commit, "s");
    r.add(BENCHMARK, OURS, "server_and_tools_cpu_s", cpu, "s");
    r.add(
        BENCHMARK,
        OURS,
        "peak_rss_mb",
        status_mb(server.main_pid(), "VmHWM"),
        "MB",
    );
    Ok(())
}

/// Generates every app at `revision`, `CONCURRENCY` at a time; returns the wall time in s.
async fn burst(conns: &[Conn], url: &str, apps: &[String], revision: &str) -> anyhow::Result<f64> {
    let queue = Arc::new(parking_lot::Mutex::new(apps.to_vec()));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let mut conn = conns[w % conns.len()].clone();
            let queue = queue.clone();
            let (url, revision) = (url.to_string(), revision.to_string());
            tokio::spawn(async move {
                loop {
                    let Some(path) = queue.lock().pop() else {
                        return anyhow::Ok(());
                    };
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
    Ok(start.elapsed().as_secs_f64())
}
