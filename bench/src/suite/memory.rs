//! `memory`: resident memory idle, then with many distinct applications in the manifest
//! cache, and what each cached application costs beyond its manifests.

use std::time::Duration;

use prost::Message;
use repo_proto::repository::ManifestResponse;

use crate::fixture::{self, commit_all, manifest_request};
use crate::grpc::GENERATE_MANIFEST;
use crate::pki::Pki;
use crate::proc::status_mb;
use crate::suite::{connections, serve, Ctx};
use crate::system::OURS;

const BENCHMARK: &str = "memory";
const CONNECTIONS: usize = 4;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("memory");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let src = work.join("src");
    let n = ctx.plan.cached_apps;
    for i in 0..n {
        fixture::write(
            &src,
            &format!("apps/app-{i:04}/all.yaml"),
            &fixture::configmaps(&format!("app-{i}"), 5),
        );
    }
    commit_all(&src, "many apps")?;
    let url = format!("file://{}", src.display());
    let (server, dialer) = serve(ctx, &pki, &work, "memory")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.main_pid();
    let idle = status_mb(pid, "VmRSS");

    let mut tasks = Vec::new();
    for (w, mut conn) in connections(&dialer, CONNECTIONS)
        .await?
        .into_iter()
        .enumerate()
    {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut bytes = 0usize;
            for i in (w..n).step_by(CONNECTIONS) {
                let request = manifest_request(
                    &url,
                    &format!("apps/app-{i:04}"),
                    "HEAD",
                    &format!("app-{i}"),
                );
                let response =
                    ManifestResponse::decode(conn.unary(GENERATE_MANIFEST, &request).await?)?;
                anyhow::ensure!(
                    response.manifests.len() == 5,
                    "app-{i}: expected 5 manifests"
                );
                bytes += response.manifests.iter().map(String::len).sum::<usize>();
            }
            anyhow::Ok(bytes)
        }));
    }
    let mut manifest_bytes = 0usize;
    for task in tasks {
        manifest_bytes += task.await??;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cached = status_mb(pid, "VmRSS");
    let beyond = ((cached - idle) * 1e6 - manifest_bytes as f64) / n as f64;

    let r = &mut ctx.results;
    r.add(BENCHMARK, OURS, "idle_rss_mb", idle, "MB");
    r.add(BENCHMARK, OURS, "cached_apps", n as f64, "apps");
    r.add(BENCHMARK, OURS, "cached_rss_mb", cached, "MB");
    r.add(
        BENCHMARK,
        OURS,
        "manifest_bytes_per_app",
        manifest_bytes as f64 / n as f64,
        "B",
    );
    r.add(BENCHMARK, OURS, "bytes_per_cached_app", beyond, "B");
    Ok(())
}
