//! The benchmarks, one file each.

pub(crate) mod charts;
pub(crate) mod cold;
pub(crate) mod fleet;
pub(crate) mod handshake;
pub(crate) mod memory;
pub(crate) mod monorepo;
pub(crate) mod persistent;
pub(crate) mod plugin;
pub(crate) mod pool;
pub(crate) mod redis_hit;
pub(crate) mod replicas;
pub(crate) mod rotation;
pub(crate) mod scaling;

use std::path::Path;

use crate::dial::{ClientTls, Dialer};
use crate::floor::Costs;
use crate::grpc::{serving, Conn, HEALTH_CHECK};
use crate::pki::Pki;
use crate::plan::Plan;
use crate::record::Results;
use crate::system::{Layout, Ours, System, SERVERS};

/// What every benchmark gets.
pub(crate) struct Ctx {
    pub layout: Layout,
    pub plan: Plan,
    pub costs: Costs,
    pub results: Results,
    /// Systems that could not be started, with why.
    pub skipped: Vec<String>,
    /// `--systems`: when not empty, only these are started.
    pub systems: Vec<String>,
}

impl Ctx {
    /// Whether `--systems` lets `name` run.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.systems.is_empty() || self.systems.iter().any(|s| s == name)
    }

    /// The mTLS servers `--systems` lets run.
    pub(crate) fn servers(&self) -> Vec<&'static str> {
        SERVERS.into_iter().filter(|n| self.wants(n)).collect()
    }

    /// Starts a peer, or notes why it could not be and goes on without it.
    pub(crate) fn peer<T>(&mut self, name: &str, started: anyhow::Result<T>) -> Option<T> {
        match started {
            Ok(system) => Some(system),
            Err(e) => {
                let why = format!("{name}: {e:#}");
                eprintln!("  skipped {why}");
                self.skipped.push(why);
                None
            }
        }
    }
}

/// This server with mTLS from `pki` and an empty cache under `work`, and a dialer that presents
/// the client certificate of `pki` (without session resumption, as upstream's clients).
pub(crate) fn serve(
    ctx: &Ctx,
    pki: &Pki,
    work: &Path,
    tag: &str,
) -> anyhow::Result<(System, Dialer)> {
    let server = Ours {
        pki: Some(pki),
        cache: work.join("cache"),
    }
    .start(&ctx.layout, tag)?;
    let dialer = mtls_dialer(&server, pki, false)?;
    Ok((server, dialer))
}

/// A dialer to `system` presenting the client certificate of `pki`.
pub(crate) fn mtls_dialer(system: &System, pki: &Pki, resume: bool) -> anyhow::Result<Dialer> {
    Dialer::tls(
        system.addr,
        &ClientTls {
            cert: &pki.client_cert(),
            key: &pki.client_key(),
            resume,
        },
    )
}

/// `n` connections through `dialer`.
pub(crate) async fn connections(dialer: &Dialer, n: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(dialer.connect().await?);
    }
    Ok(conns)
}

/// What upstream's components do per call: a new connection, every handshake, Health/Check.
pub(crate) async fn health_on_new_connection(dialer: Dialer) -> anyhow::Result<()> {
    let mut conn = dialer.connect().await?;
    let response = conn.unary(HEALTH_CHECK, &[]).await?;
    anyhow::ensure!(serving(&response), "not SERVING: {response:?}");
    Ok(())
}
