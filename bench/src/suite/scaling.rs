//! `scaling`: how this server's throughput grows with cores. The server is pinned to 1, 2, 4 …
//! cores (`taskset`) and the load generator (this process) to the others, with enough
//! concurrent clients to keep the server's cores busy; handshakes (a new mTLS connection per
//! Health/Check) and calls (Health/Check on persistent connections) per second per server core,
//! and their ratio to linear (per-core rate at n cores over the rate at one core).
//!
//! The load generator needs cores of its own: counts up to half the machine are measured
//! clean; the whole machine is measured too, with the generator sharing the server's cores
//! (marked `shared`: its per-core rates are low by what the generator takes). Server
//! utilization (its CPU time over cores × wall time) says whether the server was saturated.

use std::process::Command;

use crate::grpc::HEALTH_CHECK;
use crate::load::{drive, Sample};
use crate::pki::Pki;
use crate::suite::{connections, health_on_new_connection, mtls_dialer, Ctx};
use crate::system::{Extra, Ours, OURS};

const BENCHMARK: &str = "scaling";
const TARGET: &str = "target";
/// Handshakes in flight.
const DIALERS: usize = 32;
/// Calls in flight, over `CONNECTIONS` persistent connections.
const CALLERS: usize = 128;
const CONNECTIONS: usize = 16;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("scaling");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let cores = std::thread::available_parallelism()?.get();
    let mut plan: Vec<(usize, bool)> = std::iter::successors(Some(1), |n| Some(n * 2))
        .take_while(|n| 2 * n <= cores)
        .map(|n| (n, false))
        .collect();
    if plan.last().map(|(n, _)| *n) != Some(cores) {
        plan.push((cores, true));
    }
    let _restore = Pinned(format!("0-{}", cores - 1));
    let mut one_core: Option<[f64; 2]> = None;
    for (n, shared) in plan {
        let load = match shared {
            true => format!("0-{}", cores - 1),
            false => format!("{n}-{}", cores - 1),
        };
        pin(&load)?;
        let [handshakes, calls] = measure(ctx, &pki, n).await?;
        let r = &mut ctx.results;
        let suffix = format!("{n}c{}", if shared { "_shared" } else { "" });
        let rates = [handshakes.per_s() / n as f64, calls.per_s() / n as f64];
        for (what, sample, rate) in [
            ("handshakes", &handshakes, rates[0]),
            ("calls", &calls, rates[1]),
        ] {
            r.add(
                BENCHMARK,
                OURS,
                &format!("{what}_per_s_per_core_{suffix}"),
                rate,
                "1/s",
            );
            r.add(
                BENCHMARK,
                OURS,
                &format!("{what}_server_utilization_{suffix}"),
                sample.server_cpu_s / sample.elapsed_s / n as f64,
                "cores/core",
            );
        }
        match one_core {
            None if n == 1 => one_core = Some(rates),
            None => {}
            Some(base) => {
                for (what, rate, base) in [
                    ("handshakes", rates[0], base[0]),
                    ("calls", rates[1], base[1]),
                ] {
                    r.add(
                        BENCHMARK,
                        OURS,
                        &format!("{what}_ratio_to_linear_{suffix}"),
                        rate / base,
                        "x",
                    );
                }
            }
        }
    }
    ctx.results
        .add(BENCHMARK, TARGET, "ratio_to_linear", 0.8, "x");
    ctx.results
        .add(BENCHMARK, OURS, "machine_cores", cores as f64, "cores");
    Ok(())
}

/// Handshakes and persistent calls against the server pinned to cores `0..n`.
async fn measure(ctx: &Ctx, pki: &Pki, n: usize) -> anyhow::Result<[Sample; 2]> {
    let server = Ours {
        pki: Some(pki),
        cache: ctx.layout.work.join(format!("scaling/cache-{n}")),
    }
    .start_with(
        &ctx.layout,
        &format!("{BENCHMARK}-{n}"),
        &Extra {
            cpus: Some(format!("0-{}", n - 1)),
            ..Extra::default()
        },
    )?;
    let pids = server.pids();
    let dialer = mtls_dialer(&server, pki, false)?;
    let step = std::sync::Arc::new(move |_| health_on_new_connection(dialer.clone()));
    let warm = step.clone();
    drive(DIALERS, ctx.plan.warmup, &[], move |w| warm(w)).await;
    let handshakes = drive(DIALERS, ctx.plan.window, &pids, move |w| step(w)).await;
    handshakes.check(&format!("{BENCHMARK} handshakes on {n} cores"))?;

    let conns = connections(&mtls_dialer(&server, pki, false)?, CONNECTIONS).await?;
    let call = std::sync::Arc::new(move |w: usize| {
        let mut conn = conns[w % conns.len()].clone();
        async move {
            conn.unary(HEALTH_CHECK, &[]).await?;
            Ok(())
        }
    });
    let warm = call.clone();
    drive(CALLERS, ctx.plan.warmup, &[], move |w| warm(w)).await;
    let calls = drive(CALLERS, ctx.plan.window, &pids, move |w| call(w)).await;
    calls.check(&format!("{BENCHMARK} calls on {n} cores"))?;
    Ok([handshakes, calls])
}

/// Pins every thread of this process (the load generator) to `cpus`.
fn pin(cpus: &str) -> anyhow::Result<()> {
    let pid = std::process::id().to_string();
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "taskset -a -p -c {cpus}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Gives this process every core back when the benchmark ends, however it ends.
struct Pinned(String);

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Err(e) = pin(&self.0) {
            eprintln!("  scaling: could not unpin the load generator: {e:#}");
        }
    }
}
