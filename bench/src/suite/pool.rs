//! `client-pool`: the components' client library as shipped (one pooled connection that
//! follows certificate rotation) against upstream's habit of a new connection per call.

use std::time::Duration;

use repo_client::{Component, Pool, Settings};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::load::drive;
use crate::pki::Pki;
use crate::suite::Ctx;
use crate::system::{Ours, OURS};

const BENCHMARK: &str = "client-pool";
const CONCURRENCY: usize = 4;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let work = ctx.layout.work.join("pool");
    let (pki, _) = Pki::p256(&work.join("pki"));
    let server = Ours {
        pki: Some(&pki),
        cache: work.join("cache"),
    }
    .start(&ctx.layout, "pool")?;
    let settings = Settings {
        component: Component::ApplicationController,
        address: server.addr.to_string(),
        plaintext: false,
        server_ca: vec![],
        client_cert: Some((pki.client_cert(), pki.client_key())),
        timeout: Some(Duration::from_secs(10)),
    };
    let pool = Pool::new(&settings)?;
    let connector = repo_client::connector(&settings)?;
    let address = settings.address.clone();
    let pids = server.pids();

    for pooled in [true, false] {
        let (pool, connector, address) = (pool.clone(), connector.clone(), address.clone());
        let step = move |_| {
            let (pool, connector, address) = (pool.clone(), connector.clone(), address.clone());
            async move {
                let channel = if pooled {
                    pool.channel().await?
                } else {
                    repo_client::open(&address, connector, None).await?
                };
                HealthClient::new(channel)
                    .check(HealthCheckRequest::default())
                    .await?;
                anyhow::Ok(())
            }
        };
        let step = std::sync::Arc::new(step);
        let warm = step.clone();
        drive(CONCURRENCY, ctx.plan.warmup, &[], move |w| warm(w)).await;
        let sample = drive(CONCURRENCY, ctx.plan.window, &pids, move |w| step(w)).await;
        sample.check(BENCHMARK)?;
        let mode = if pooled {
            "pooled"
        } else {
            "connection_per_call"
        };
        let r = &mut ctx.results;
        r.add(
            BENCHMARK,
            OURS,
            &format!("{mode}/calls_per_s"),
            sample.per_s(),
            "1/s",
        );
        r.add(
            BENCHMARK,
            OURS,
            &format!("{mode}/p50_ms"),
            sample.quantile_ms(0.5),
            "ms",
        );
        r.add(
            BENCHMARK,
            OURS,
            &format!("{mode}/server_cpu_us_per_call"),
            sample.cpu_us_per_op(),
            "us",
        );
    }
    Ok(())
}
