//! `rotation`: latency of connection-per-call Health checks in steady state, then while the
//! serving certificate is rotated again and again the way kubelet updates a Secret volume.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use repo_testkit::{Leaf, SecretVolume};

use crate::load::drive;
use crate::pki::Pki;
use crate::suite::{health_on_new_connection, serve, Ctx};
use crate::system::{tls_dir, OURS};

const BENCHMARK: &str = "rotation";
const CONCURRENCY: usize = 4;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("rotation");
    let (pki, ca) = Pki::p256(&work.join("pki"));
    let conf = ctx.layout.work.join("conf-rotation");
    let mut volume = SecretVolume::new(&tls_dir(&conf));
    let leaf = std::fs::read_to_string(pki.server_cert())?;
    let key = std::fs::read_to_string(pki.server_key())?;
    volume.update(&[
        ("tls.crt", &leaf),
        ("tls.key", &key),
        ("client-ca.crt", &ca.cert),
    ]);
    let (server, dialer) = serve(ctx, &pki, &work, "rotation")?;
    let step = move |_| health_on_new_connection(dialer.clone());
    let step = Arc::new(step);
    let (warm, steady_step) = (step.clone(), step.clone());
    drive(CONCURRENCY, ctx.plan.warmup, &[], move |w| warm(w)).await;
    let pids = server.pids();
    let steady = drive(CONCURRENCY, ctx.plan.window, &pids, move |w| steady_step(w)).await;
    steady.check("rotation steady state")?;

    // Rotations spread over the window, each a new serving leaf from the same CA.
    let done = Arc::new(AtomicBool::new(false));
    let interval = ctx.plan.window / ctx.plan.rotations as u32;
    let rotations = ctx.plan.rotations;
    let flag = done.clone();
    let rotator = tokio::task::spawn_blocking(move || {
        let mut count = 0;
        while count < rotations && !flag.load(Ordering::Relaxed) {
            std::thread::sleep(interval);
            let next = ca.issue(&Leaf::server());
            volume.update(&[
                ("tls.crt", &next.cert),
                ("tls.key", &next.key),
                ("client-ca.crt", &ca.cert),
            ]);
            count += 1;
        }
        count
    });
    let rotating = drive(CONCURRENCY, ctx.plan.window, &pids, move |w| step(w)).await;
    done.store(true, Ordering::Relaxed);
    let count = rotator.await?;

    let r = &mut ctx.results;
    r.add(
        BENCHMARK,
        OURS,
        "steady_p50_ms",
        steady.quantile_ms(0.5),
        "ms",
    );
    r.add(
        BENCHMARK,
        OURS,
        "steady_p99_ms",
        steady.quantile_ms(0.99),
        "ms",
    );
    r.add(
        BENCHMARK,
        OURS,
        "rotating_p50_ms",
        rotating.quantile_ms(0.5),
        "ms",
    );
    r.add(
        BENCHMARK,
        OURS,
        "rotating_p99_ms",
        rotating.quantile_ms(0.99),
        "ms",
    );
    r.add(BENCHMARK, OURS, "rotations", count as f64, "count");
    r.add(
        BENCHMARK,
        OURS,
        "failed_calls",
        rotating.errors as f64,
        "calls",
    );
    rotating.check("calls during rotation")?;
    Ok(())
}
