//! `rpc-persistent`: long-lived connections at several concurrencies, Health/Check and a cached
//! 50-resource GenerateManifest; this server with mTLS and in plaintext, and the peers.

use std::collections::HashMap;

use crate::dial::Dialer;
use crate::fixture::{self, commit_all, manifest_count, manifest_request};
use crate::grpc::{Conn, GENERATE_MANIFEST, HEALTH_CHECK};
use crate::load::drive;
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

pub async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
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

    let mut cpu: HashMap<(&str, usize, &str), f64> = HashMap::new();
    for name in ctx.servers() {
        let started = system::start(name, &ctx.layout, &pki, BENCHMARK);
        let Some(system) = ctx.peer(name, started) else {
            continue;
        };
        let dialer = mtls_dialer(&system, &pki, false)?;
        let rpcs: &[Rpc] = match name {
            OURS | SIDECAR => &[Rpc::Health, Rpc::Manifest],
            _ => &[Rpc::Health],
        };
        measure(ctx, &system, &dialer, "mtls", rpcs, &request, &mut cpu).await?;
        if name == OURS {
            drop(system);
            let plain = Ours {
                pki: None,
                cache: work.join("cache-h2c"),
                env: vec![],
            }
            .start(&ctx.layout, "persistent-h2c")?;
            let dialer = Dialer::plaintext(plain.addr);
            measure(ctx, &plain, &dialer, "h2c", rpcs, &request, &mut cpu).await?;
        }
    }
    for rpc in [Rpc::Health, Rpc::Manifest] {
        for &c in ctx.plan.concurrencies {
            if let (Some(tls), Some(plain)) = (
                cpu.get(&(rpc.name(), c, "mtls")),
                cpu.get(&(rpc.name(), c, "h2c")),
            ) {
                ctx.results.add(
                    BENCHMARK,
                    OURS,
                    &format!("{}/c{c}/mtls_cpu_overhead_pct", rpc.name()),
                    (tls - plain) / plain * 100.0,
                    "%",
                );
            }
        }
    }
    Ok(())
}

async fn measure<'a>(
    ctx: &mut Ctx,
    system: &System,
    dialer: &Dialer,
    mode: &'a str,
    rpcs: &[Rpc],
    request: &[u8],
    cpu: &mut HashMap<(&'static str, usize, &'a str), f64>,
) -> anyhow::Result<()> {
    let mut first = dialer.connect().await?;
    if rpcs.contains(&Rpc::Manifest) {
        let response = first.unary(GENERATE_MANIFEST, request).await?;
        anyhow::ensure!(
            manifest_count(&response)? == RESOURCES,
            "{}: expected {RESOURCES} manifests",
            system.name
        );
    }
    for &rpc in rpcs {
        for &c in ctx.plan.concurrencies {
            let conns = std::sync::Arc::new(connections(dialer, c.min(MAX_CONNECTIONS)).await?);
            let (path, body) = match rpc {
                Rpc::Health => (HEALTH_CHECK, Vec::new()),
                Rpc::Manifest => (GENERATE_MANIFEST, request.to_vec()),
            };
            let body = std::sync::Arc::new(body);
            let step = move |w: usize| {
                let mut conn: Conn = conns[w % conns.len()].clone();
                let body = body.clone();
                async move {
                    conn.unary(path, &body).await?;
                    Ok(())
                }
            };
            let step = std::sync::Arc::new(step);
            let warm = step.clone();
            drive(c, ctx.plan.warmup, &[], move |w| warm(w)).await;
            let sample = drive(c, ctx.plan.window, &system.pids(), move |w| step(w)).await;
            sample.check(&format!("{BENCHMARK} {} {} c={c}", system.name, rpc.name()))?;
            let metric = |what: &str| format!("{}/c{c}/{mode}/{what}", rpc.name());
            let r = &mut ctx.results;
            r.add(
                BENCHMARK,
                system.name,
                &metric("p50_ms"),
                sample.quantile_ms(0.5),
                "ms",
            );
            r.add(
                BENCHMARK,
                system.name,
                &metric("p99_ms"),
                sample.quantile_ms(0.99),
                "ms",
            );
            r.add(
                BENCHMARK,
                system.name,
                &metric("calls_per_s"),
                sample.per_s(),
                "1/s",
            );
            r.add(
                BENCHMARK,
                system.name,
                &metric("server_cpu_us_per_call"),
                sample.cpu_us_per_op(),
                "us",
            );
            if system.name == OURS {
                cpu.insert((rpc.name(), c, mode), sample.cpu_us_per_op());
            }
        }
    }
    Ok(())
}
