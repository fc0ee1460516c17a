//! `monorepo-burst`: thousands of applications (directory and kustomize) in one repository;
//! after one new commit, every application is regenerated through gRPC at once, by one
//! replica and by three sharing Redis behind a round-robin client.

use crate::pki::Pki;
use crate::plan::Plan;
use crate::suite::fleet::{monorepo, Burst, Scenario};
use crate::suite::Ctx;
use crate::system::OURS;

const BENCHMARK: &str = "monorepo-burst";
/// The system id of three replicas of this server sharing one Redis.
pub(crate) const THREE: &str = "repo-server-rs-x3-redis";

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("monorepo");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let n = ctx.plan.monorepo_apps;
    Plan::note_size(BENCHMARK, "applications", n, Plan::full().monorepo_apps);
    let (apps, daemon) = monorepo(&work, n)?;
    for (system, n) in [(OURS, 1), (THREE, 3)] {
        let s = Scenario::run(ctx, &pki, &daemon, &work, &apps, n, system).await?;
        let peak = s.fleet.peak_rss_mb().into_iter().fold(0.0, f64::max);
        drop(s.fleet);
        let r = &mut ctx.results;
        r.add(BENCHMARK, system, "apps", apps.len() as f64, "apps");
        record(r, system, "initial_", &s.initial);
        record(r, system, "", &s.after_commit);
        r.add(BENCHMARK, system, "peak_rss_mb_per_replica", peak, "MB");
    }
    Ok(())
}

fn record(r: &mut crate::record::Results, system: &str, prefix: &str, burst: &Burst) {
    r.add(
        BENCHMARK,
        system,
        &format!("{prefix}wall_s"),
        burst.wall_s,
        "s",
    );
    r.add(
        BENCHMARK,
        system,
        &format!("{prefix}server_and_tools_cpu_s"),
        burst.cpu_s,
        "s",
    );
    r.add(
        BENCHMARK,
        system,
        &format!("{prefix}renders"),
        burst.renders,
        "renders",
    );
}
