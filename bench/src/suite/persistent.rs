//! `rpc-persistent`: long-lived connections at several concurrencies, Health/Check and a cached
//! 50-resource GenerateManifest; this server with mTLS and in plaintext, and the peers.
//!
//! The cost of mTLS is a few percent of a call, below the drift between two runs on a shared
//! machine; so this server's two modes run side by side and their windows alternate, and the
//! overhead is the median of the per-round ratios.

use std::sync::Arc;

use crate::dial::Dialer;
use crate::fixture::{self, commit_all, manifest_count, manifest_request};
use crate::grpc::{GENERATE_MANIFEST, HEALTH_CHECK};
use crate::load::{drive, quantile, Sample};
use crate::pki::Pki;
use crate::suite::{connections, mtls_dialer, Ctx};
use crate::system::{self, Ours, System, OURS, SIDECAR};

const BENCHMARK: &str = "rpc-persistent";
const RESOURCES: usize = 50;
/// Concurrent calls share at most this many connections (HTTP/2 multiplexes the rest).
const MAX_CONNECTIONS: usize = 16;

#[derive(Clone, Copy, PartialEq)]
enum Rpc {
    Health,
    Manifest,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Health => "health",
            Rpc::Manifest => "manifest",
        }
    }
}

/// One system in one mode, ready to be loaded.
struct Target {
    system: System,
    dialer: Dialer,
    mode: &'static str,
}

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("persistent");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let repo = work.join("repo");
    fixture::write(
        &repo,
        "apps/web/resources.yaml",
        &fixture::configmaps("web", RESOURCES),
    );
    commit_all(&repo, "fifty resources")?;
    let request = manifest_request(
        &format!("file://{}", repo.display()),
        "apps/web",
        "HEAD",
        "web",
    );

    for name in ctx.servers() {
        let started = system::start(name, &ctx.layout, &pki, BENCHMARK);
        let Some(system) = ctx.peer(name, started) else {
            continue;
        };
        let dialer = mtls_dialer(&system, &pki, false)?;
        let mut targets = vec![Target {
            system,
            dialer,
            mode: "mtls",
        }];
        if name == OURS {
            let plain = Ours {
                pki: None,
                cache: work.join("cache-h2c"),
            }
            .start(&ctx.layout, "persistent-h2c")?;
            let dialer = Dialer::plaintext(plain.addr);
            targets.push(Target {
                system: plain,
                dialer,
                mode: "h2c",
            });
        }
        let rpcs: &[Rpc] = match name {
            OURS | SIDECAR => &[Rpc::Health, Rpc::Manifest],
            _ => &[Rpc::Health],
        };
        if rpcs.contains(&Rpc::Manifest) {
            for target in &targets {
                let response = target
                    .dialer
                    .connect()
                    .await?
                    .unary(GENERATE_MANIFEST, &request)
                    .await?;
                anyhow::ensure!(
                    manifest_count(&response)? == RESOURCES,
                    "{name}: expected {RESOURCES} manifests"
                );
            }
        }
        for &rpc in rpcs {
            for &c in ctx.plan.concurrencies {
                compare(ctx, &targets, rpc, c, &request).await?;
            }
        }
    }
    Ok(())
}

/// Loads each target in turn, `rounds` times; records each target's totals and, with two
/// targets, the overhead of the first over the second.
async fn compare(
    ctx: &mut Ctx,
    targets: &[Target],
    rpc: Rpc,
    c: usize,
    request: &[u8],
) -> anyhow::Result<()> {
    let mut totals: Vec<Sample> = targets.iter().map(|_| Sample::default()).collect();
    let mut ratios = Vec::new();
    let (rounds, length) = if targets.len() > 1 {
        (ctx.plan.rounds, ctx.plan.round_window)
    } else {
        (1, ctx.plan.window)
    };
    for _ in 0..rounds {
        let mut cpu = Vec::new();
        for (target, total) in targets.iter().zip(&mut totals) {
            let sample = window(ctx, target, rpc, c, request, length).await?;
            cpu.push(sample.cpu_us_per_op());
            total.merge(sample);
        }
        if let [loaded, baseline] = cpu[..] {
            ratios.push(loaded / baseline - 1.0);
        }
    }
    for (target, total) in targets.iter().zip(&totals) {
        let metric = |what: &str| format!("{}/c{c}/{}/{what}", rpc.name(), target.mode);
        let (r, system) = (&mut ctx.results, target.system.name);
        r.add(
            BENCHMARK,
            system,
            &metric("p50_ms"),
            total.quantile_ms(0.5),
            "ms",
        );
        r.add(
            BENCHMARK,
            system,
            &metric("p99_ms"),
            total.quantile_ms(0.99),
            "ms",
        );
        r.add(
            BENCHMARK,
            system,
            &metric("calls_per_s"),
            total.per_s(),
            "1/s",
        );
        r.add(
            BENCHMARK,
            system,
            &metric("server_cpu_us_per_call"),
            total.cpu_us_per_op(),
            "us",
        );
    }
    if !ratios.is_empty() {
        ctx.results.add(
            BENCHMARK,
            targets[0].system.name,
            &format!("{}/c{c}/mtls_cpu_overhead_pct", rpc.name()),
            quantile(&ratios, 0.5) * 100.0,
            "%",
        );
    }
    Ok(())
}

/// One warmed-up window of `c` concurrent calls over fresh persistent connections.
async fn window(
    ctx: &Ctx,
    target: &Target,
    rpc: Rpc,
    c: usize,
    request: &[u8],
    length: std::time::Duration,
) -> anyhow::Result<Sample> {
    let conns = Arc::new(connections(&target.dialer, c.min(MAX_CONNECTIONS)).await?);
    let (path, body) = match rpc {
        Rpc::Health => (HEALTH_CHECK, Vec::new()),
        Rpc::Manifest => (GENERATE_MANIFEST, request.to_vec()),
    };
    let body = Arc::new(body);
    let step = Arc::new(move |w: usize| {
        let mut conn = conns[w % conns.len()].clone();
        let body = body.clone();
        async move {
            conn.unary(path, &body).await?;
            Ok(())
        }
    });
    let warm = step.clone();
    drive(c, ctx.plan.warmup, &[], move |w| warm(w)).await;
    let sample = drive(c, length, &target.system.pids(), move |w| step(w)).await;
    sample.check(&format!(
        "{BENCHMARK} {} {} {} c={c}",
        target.system.name,
        target.mode,
        rpc.name()
    ))?;
    Ok(sample)
}
