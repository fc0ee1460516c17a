//! `redis-hit`: a cached GenerateManifest answered from Redis by a replica that never rendered
//! it (its memory tier empty), against a memory hit on the same replica: latency at c=1 and
//! the replica's CPU per call.
//!
//! Replica A renders `keys` applications (one directory, a new app name each: the name is part
//! of the key). Each round starts a new replica B, asks it for every key once (Redis hits,
//! which fill its memory) and then once more (memory hits).

use std::time::Instant;

use crate::fixture::{self, commit_all, manifest_count, manifest_request};
use crate::grpc::{Conn, GENERATE_MANIFEST};
use crate::load::quantile;
use crate::pki::Pki;
use crate::proc::threads_cpu_s;
use crate::scrape::{total, RENDERS};
use crate::suite::{mtls_dialer, Ctx};
use crate::system::{self, Extra, Ours, OURS};

const BENCHMARK: &str = "redis-hit";
const TARGET: &str = "target";
/// One application of a few KB of manifests.
const RESOURCES: usize = 10;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("redis-hit");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let src = work.join("src");
    fixture::write(
        &src,
        "apps/web/all.yaml",
        &fixture::configmaps("web", RESOURCES),
    );
    let revision = commit_all(&src, "one app")?;
    let url = format!("file://{}", src.display());
    let keys = ctx.plan.redis_hit_keys;
    let requests: Vec<Vec<u8>> = (0..=keys)
        .map(|i| manifest_request(&url, "apps/web", &revision, &format!("web-{i}")))
        .collect();

    let (redis_process, redis) = system::redis(&ctx.layout, BENCHMARK)?;
    let extra = Extra {
        redis: Some(redis),
        ..Extra::default()
    };
    let replica = |tag: &str| {
        Ours {
            pki: Some(&pki),
            cache: work.join(format!("cache-{tag}")),
        }
        .start_with(&ctx.layout, &format!("{BENCHMARK}-{tag}"), &extra)
    };
    let a = replica("a")?;
    let mut conn = mtls_dialer(&a, &pki, false)?.connect().await?;
    for request in &requests {
        call(&mut conn, request).await?;
    }
    drop(a);

    let (mut from_redis, mut from_memory) = (Vec::new(), Vec::new());
    let (mut redis_cpu, mut memory_cpu, mut redis_server_cpu) = (0.0, 0.0, 0.0);
    for round in 0..ctx.plan.redis_hit_rounds {
        let b = replica(&format!("b{round}"))?;
        let metrics = b.metrics.expect("our server has metrics");
        let mut conn = mtls_dialer(&b, &pki, false)?.connect().await?;
        // The connection's first call pays for setup; not measured.
        call(&mut conn, &requests[0]).await?;
        let pid = b.main_pid();
        let redis_before = threads_cpu_s(redis_process.pid());
        let (cpu, latencies) = pass(&mut conn, &requests[1..], pid).await?;
        redis_server_cpu += threads_cpu_s(redis_process.pid()) - redis_before;
        redis_cpu += cpu;
        from_redis.extend(latencies);
        let (cpu, latencies) = pass(&mut conn, &requests[1..], pid).await?;
        memory_cpu += cpu;
        from_memory.extend(latencies);
        let renders = total(metrics, RENDERS).await?;
        anyhow::ensure!(
            renders == 0.0,
            "replica B rendered {renders} times: not a Redis hit"
        );
    }
    let calls = (keys * ctx.plan.redis_hit_rounds) as f64;
    let (redis_us, memory_us) = (redis_cpu * 1e6 / calls, memory_cpu * 1e6 / calls);

    let r = &mut ctx.results;
    r.add(
        BENCHMARK,
        OURS,
        "redis_hit_p50_ms",
        quantile(&from_redis, 0.5),
        "ms",
    );
    r.add(BENCHMARK, TARGET, "redis_hit_p50_ms", 1.0, "ms");
    r.add(
        BENCHMARK,
        OURS,
        "memory_hit_p50_ms",
        quantile(&from_memory, 0.5),
        "ms",
    );
    r.add(
        BENCHMARK,
        OURS,
        "redis_hit_p99_ms",
        quantile(&from_redis, 0.99),
        "ms",
    );
    r.add(BENCHMARK, OURS, "redis_hit_cpu_us_per_call", redis_us, "us");
    r.add(
        BENCHMARK,
        OURS,
        "memory_hit_cpu_us_per_call",
        memory_us,
        "us",
    );
    r.add(
        BENCHMARK,
        OURS,
        "redis_over_memory_cpu_ratio",
        redis_us / memory_us,
        "x",
    );
    r.add(BENCHMARK, TARGET, "redis_over_memory_cpu_ratio", 2.0, "x");
    r.add(
        BENCHMARK,
        "redis-server",
        "cpu_us_per_redis_hit",
        redis_server_cpu * 1e6 / calls,
        "us",
    );
    r.add(BENCHMARK, OURS, "calls_per_pass", calls, "calls");
    Ok(())
}

/// Every request once, in order, on `conn`; the CPU seconds of `pid`'s tree and each latency.
async fn pass(conn: &mut Conn, requests: &[Vec<u8>], pid: u32) -> anyhow::Result<(f64, Vec<f64>)> {
    let mut latencies = Vec::with_capacity(requests.len());
    let cpu = threads_cpu_s(pid);
    for request in requests {
        let start = Instant::now();
        call(conn, request).await?;
        latencies.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok((threads_cpu_s(pid) - cpu, latencies))
}

async fn call(conn: &mut Conn, request: &[u8]) -> anyhow::Result<()> {
    let response = conn.unary(GENERATE_MANIFEST, request).await?;
    anyhow::ensure!(manifest_count(&response)? == RESOURCES, "wrong manifests");
    Ok(())
}
