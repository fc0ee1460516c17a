//! `handshake-p256` and `handshake-rsa2048`: a fresh connection and full mTLS handshake per
//! Health/Check, as upstream's components do; then the same with session resumption offered.

use crate::dial::Dialer;
use crate::load::drive;
use crate::pki::Pki;
use crate::suite::{health_on_new_connection, mtls_dialer, Ctx};
use crate::system::{self, Ours, System, FLOOR, OURS};

const CONCURRENCY: usize = 4;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("handshake");
    let (p256, _) = Pki::p256(&work.join("p256"));
    let rsa = Pki::rsa_recipe(&work.join("rsa"));
    for (benchmark, pki, floor) in [
        ("handshake-p256", &p256, ctx.costs.handshake_p256()),
        ("handshake-rsa2048", &rsa, ctx.costs.handshake_rsa2048()),
    ] {
        ctx.results
            .add(benchmark, FLOOR, "server_cpu_us_per_handshake", floor, "us");
        ctx.results.add(
            benchmark,
            FLOOR,
            "resumed_server_cpu_us_per_handshake",
            ctx.costs.resumed(),
            "us",
        );
        // The TLS part of our handshake (full minus an h2c connection) is set against this.
        ctx.results.add(
            benchmark,
            FLOOR,
            "tls_server_cpu_us_per_handshake",
            floor,
            "us",
        );
        for name in ctx.servers() {
            let started = system::start(name, &ctx.layout, pki, benchmark);
            let Some(system) = ctx.peer(name, started) else {
                continue;
            };
            let full = measure(ctx, benchmark, &system, pki).await?;
            if name == OURS {
                drop(system);
                connection_cost(ctx, benchmark, full).await?;
            }
        }
    }
    Ok(())
}

/// Measures full and resumed handshakes; returns the server CPU per full handshake.
async fn measure(
    ctx: &mut Ctx,
    benchmark: &str,
    system: &System,
    pki: &Pki,
) -> anyhow::Result<f64> {
    let mut full = 0.0;
    for resume in [false, true] {
        let dialer = mtls_dialer(system, pki, resume)?;
        let step = move |_| health_on_new_connection(dialer.clone());
        let step = std::sync::Arc::new(step);
        let warm = step.clone();
        drive(CONCURRENCY, ctx.plan.warmup, &[], move |w| warm(w)).await;
        let pids = system.pids();
        let sample = drive(CONCURRENCY, ctx.plan.window, &pids, move |w| step(w)).await;
        sample.check(&format!("{benchmark} {}", system.name))?;
        let prefix = if resume { "resumed_" } else { "" };
        if !resume {
            full = sample.cpu_us_per_op();
        }
        ctx.results.add(
            benchmark,
            system.name,
            &format!("{prefix}handshakes_per_s"),
            sample.per_s(),
            "1/s",
        );
        ctx.results.add(
            benchmark,
            system.name,
            &format!("{prefix}server_cpu_us_per_handshake"),
            sample.cpu_us_per_op(),
            "us",
        );
    }
    Ok(full)
}

/// The same connection per call without TLS (h2c): what TCP, HTTP/2 and the call cost alone,
/// so the TLS part of a handshake can be set against the crypto floor.
async fn connection_cost(ctx: &mut Ctx, benchmark: &str, full: f64) -> anyhow::Result<()> {
    let plain = Ours {
        pki: None,
        cache: ctx.layout.work.join(format!("cache-{benchmark}-h2c")),
    }
    .start(&ctx.layout, &format!("{benchmark}-h2c"))?;
    let dialer = Dialer::plaintext(plain.addr);
    let step = std::sync::Arc::new(move |_| health_on_new_connection(dialer.clone()));
    let warm = step.clone();
    drive(CONCURRENCY, ctx.plan.warmup, &[], move |w| warm(w)).await;
    let sample = drive(CONCURRENCY, ctx.plan.window, &plain.pids(), move |w| {
        step(w)
    })
    .await;
    sample.check(&format!("{benchmark} h2c connection per call"))?;
    let plain_cpu = sample.cpu_us_per_op();
    let r = &mut ctx.results;
    r.add(
        benchmark,
        OURS,
        "h2c_server_cpu_us_per_connection",
        plain_cpu,
        "us",
    );
    r.add(
        benchmark,
        OURS,
        "tls_server_cpu_us_per_handshake",
        full - plain_cpu,
        "us",
    );
    Ok(())
}
