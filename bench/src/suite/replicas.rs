//! `replicas`: three replicas sharing one Redis behind a round-robin client; after one new
//! commit every application is requested once (target: one render per application), then
//! once more, each on a replica that did not render it (target: no render, Redis answers).

use crate::pki::Pki;
use crate::plan::Plan;
use crate::suite::fleet::{monorepo, Burst, Scenario};
use crate::suite::monorepo::THREE;
use crate::suite::Ctx;
use crate::system::Process;

const BENCHMARK: &str = "replicas";
const TARGET: &str = "target";

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("replicas");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let n = ctx.plan.replica_apps;
    Plan::note_size(BENCHMARK, "applications", n, Plan::full().replica_apps);
    let (apps, daemon) = monorepo(&work, n)?;
    let s = Scenario::run(ctx, &pki, &daemon, &work, &apps, 3, BENCHMARK).await?;
    // The same requests, each on the next replica: answered from Redis.
    let again = Burst::run(&s.fleet, &s.conns, 1, &s.url, &apps, &s.revision).await?;
    let peaks = s.fleet.peak_rss_mb();
    let redis_rss = s.fleet.redis.as_ref().map_or(0.0, |(p, _)| {
        crate::proc::status_mb(Process::pid(p), "VmHWM")
    });

    let r = &mut ctx.results;
    r.add(BENCHMARK, THREE, "apps", n as f64, "apps");
    let burst = &s.after_commit;
    r.add(BENCHMARK, THREE, "wall_s", burst.wall_s, "s");
    r.add(
        BENCHMARK,
        THREE,
        "server_tools_redis_cpu_s",
        burst.cpu_s,
        "s",
    );
    r.add(BENCHMARK, THREE, "renders", burst.renders, "renders");
    r.add(BENCHMARK, TARGET, "renders", n as f64, "renders");
    r.add(
        BENCHMARK,
        THREE,
        "redis_round_trips_per_request",
        burst.redis_requests / burst.requests as f64,
        "1",
    );
    r.add(BENCHMARK, THREE, "other_replica_wall_s", again.wall_s, "s");
    r.add(
        BENCHMARK,
        THREE,
        "other_replica_renders",
        again.renders,
        "renders",
    );
    r.add(BENCHMARK, TARGET, "other_replica_renders", 0.0, "renders");
    r.add(
        BENCHMARK,
        THREE,
        "other_replica_redis_round_trips_per_request",
        again.redis_requests / again.requests as f64,
        "1",
    );
    for (i, peak) in peaks.iter().enumerate() {
        r.add(
            BENCHMARK,
            THREE,
            &format!("peak_rss_mb_replica_{}", i + 1),
            *peak,
            "MB",
        );
    }
    r.add(BENCHMARK, THREE, "peak_rss_mb_redis", redis_rss, "MB");
    Ok(())
}
