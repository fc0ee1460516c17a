//! `scaling`: how this server's throughput grows with cores. The server is pinned to 1, 2, 4 …
//! cores (`taskset`) and the load generator (this process) to the others, with enough
//! concurrent clients to keep the server's cores busy; handshakes (a new mTLS connection per
//! Health/Check) and calls (Health/Check on persistent connections) per second per server core,
//! and their ratio to linear (per-core rate at n cores over the rate at one core). Also per
//! CPU second the server used (its per-core rate if it were saturated), and that ratio: the
//! server's CPU is read to the nanosecond from its threads (it starts no children here).
//!
//! The load generator needs cores of its own: counts up to half the machine are measured
//! clean; the whole machine is measured too, with the generator sharing the server's cores
//! (marked `shared`: its per-core rates are low by what the generator takes). Server
//! utilization (its CPU time over cores × wall time) says whether the server was saturated.

use std::process::Command;

use crate::grpc::HEALTH_CHECK;
use crate::load::{drive, Sample};
use crate::pki::Pki;
use crate::proc::threads_cpu_s;
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
    let mut one_core: Option<Vec<f64>> = None;
    for (n, shared) in plan {
        let load = match shared {
            true => format!("0-{}", cores - 1),
            false => format!("{n}-{}", cores - 1),
        };
        pin(&load)?;
        let windows = measure(ctx, &pki, n).await?;
        let r = &mut ctx.results;
        let suffix = format!("{n}c{}", if shared { "_shared" } else { "" });
        let mut figures = Vec::new();
        for (what, w) in ["handshakes", "calls"].into_iter().zip(&windows) {
            // Per core of the server's: what it served, and what it serves per CPU second
            // it used (its rate when saturated, whatever held the load generator back).
            let per_core = w.sample.per_s() / n as f64;
            let per_cpu_s = w.sample.ok as f64 / w.cpu_s;
            r.add(
                BENCHMARK,
                OURS,
                &format!("{what}_per_s_per_core_{suffix}"),
                per_core,
                "1/s",
            );
            r.add(
                BENCHMARK,
                OURS,
                &format!("{what}_per_server_cpu_s_{suffix}"),
                per_cpu_s,
                "1/s",
            );
            r.add(
                BENCHMARK,
                OURS,
                &format!("{what}_server_utilization_{suffix}"),
                w.cpu_s / w.sample.elapsed_s / n as f64,
                "cores/core",
            );
            figures.extend([per_core, per_cpu_s]);
        }
        match &one_core {
            None if n == 1 => one_core = Some(figures),
            None => {}
            Some(base) => {
                let names = [
                    "handshakes_ratio_to_linear",
                    "handshakes_per_cpu_ratio_to_linear",
                    "calls_ratio_to_linear",
                    "calls_per_cpu_ratio_to_linear",
                ];
                for ((name, now), base) in names.iter().zip(&figures).zip(base) {
                    r.add(
                        BENCHMARK,
                        OURS,
                        &format!("{name}_{suffix}"),
                        now / base,
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

/// One measured window and the server's CPU seconds in it.
struct Window {
    sample: Sample,
    cpu_s: f64,
}

/// Handshakes and persistent calls against the server pinned to cores `0..n`.
async fn measure(ctx: &Ctx, pki: &Pki, n: usize) -> anyhow::Result<[Window; 2]> {
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
    let pid = server.main_pid();
    let dialer = mtls_dialer(&server, pki, false)?;
    let step = std::sync::Arc::new(move |_| health_on_new_connection(dialer.clone()));
    let warm = step.clone();
    drive(DIALERS, ctx.plan.warmup, &[], move |w| warm(w)).await;
    let cpu = threads_cpu_s(pid);
    let sample = drive(DIALERS, ctx.plan.window, &[], move |w| step(w)).await;
    let handshakes = Window {
        cpu_s: threads_cpu_s(pid) - cpu,
        sample,
    };
    handshakes
        .sample
        .check(&format!("{BENCHMARK} handshakes on {n} cores"))?;

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
    let cpu = threads_cpu_s(pid);
    let sample = drive(CALLERS, ctx.plan.window, &[], move |w| call(w)).await;
    let calls = Window {
        cpu_s: threads_cpu_s(pid) - cpu,
        sample,
    };
    calls
        .sample
        .check(&format!("{BENCHMARK} calls on {n} cores"))?;
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
