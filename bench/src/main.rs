//! `bench`: measures this repo-server against its peers in one run. See bench/README.md.
#![forbid(unsafe_code)]

mod chart;
mod dial;
mod file_server;
mod fixture;
mod floor;
mod grpc;
mod load;
mod pki;
mod plan;
mod proc;
mod record;
mod registry;
mod scrape;
mod suite;
mod system;

use std::path::PathBuf;

use clap::Parser;

use crate::suite::Ctx;

/// Benchmarks of the repo-server and its peers, side by side.
#[derive(Debug, Parser)]
struct Args {
    /// Smaller sizes and shorter windows: about a minute on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Only these benchmarks (comma-separated ids, e.g. handshake,rpc-persistent).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these systems (comma-separated ids, e.g. repo-server-rs,go-grpc).
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Where latest.json, latest.md and the charts go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// The argocd-repo-server binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

const BENCHMARKS: [&str; 14] = [
    "handshake",
    "rpc-persistent",
    "client-pool",
    "cold",
    "cold-helm-repo",
    "cold-oci",
    "warm-chart",
    "monorepo-burst",
    "replicas",
    "redis-hit",
    "scaling",
    "cold-plugin",
    "memory",
    "rotation",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    repo_tls::install_provider();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf();
    let server_bin = match args.server_bin {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("argocd-repo-server"),
    };
    anyhow::ensure!(
        server_bin.exists(),
        "{}: not built; run bench/run",
        server_bin.display()
    );
    for id in &args.only {
        anyhow::ensure!(
            BENCHMARKS.contains(&id.as_str()),
            "--only {id}: unknown benchmark; use one of {}",
            BENCHMARKS.join(", ")
        );
    }
    let work = tempfile::Builder::new().prefix("repo-bench-").tempdir()?;
    stop_everything_on_signal(work.path().to_path_buf())?;
    let plan = if args.quick {
        plan::Plan::quick()
    } else {
        plan::Plan::full()
    };
    eprintln!("measuring the crypto floor");
    let mut ctx = Ctx {
        layout: system::Layout {
            root,
            server_bin,
            work: work.path().to_path_buf(),
        },
        plan,
        costs: floor::Costs::measure(plan.floor_op),
        results: record::Results::default(),
        skipped: Vec::new(),
        systems: args.systems.clone(),
    };
    let wanted = |id: &str| args.only.is_empty() || args.only.iter().any(|o| o == id);
    let mut failed = Vec::new();
    for id in BENCHMARKS.into_iter().filter(|id| wanted(id)) {
        eprintln!("running {id}");
        let run = async {
            match id {
                "handshake" => suite::handshake::run(&mut ctx).await,
                "rpc-persistent" => suite::persistent::run(&mut ctx).await,
                "client-pool" => suite::pool::run(&mut ctx).await,
                "cold" => suite::cold::run(&mut ctx).await,
                "cold-helm-repo" => suite::charts::helm_repo(&mut ctx).await,
                "cold-oci" => suite::charts::oci(&mut ctx).await,
                "warm-chart" => suite::charts::warm(&mut ctx).await,
                "monorepo-burst" => suite::monorepo::run(&mut ctx).await,
                "replicas" => suite::replicas::run(&mut ctx).await,
                "redis-hit" => suite::redis_hit::run(&mut ctx).await,
                "scaling" => suite::scaling::run(&mut ctx).await,
                "cold-plugin" => suite::plugin::run(&mut ctx).await,
                "memory" => suite::memory::run(&mut ctx).await,
                "rotation" => suite::rotation::run(&mut ctx).await,
                _ => unreachable!("checked against BENCHMARKS"),
            }
        };
        // A failing benchmark drops what it started, which stops its process groups.
        if let Err(e) = run.await {
            eprintln!("  FAILED {id}: {e:#}");
            failed.push(format!("{id}: {e:#}"));
        }
    }
    record_floor_ops(&mut ctx);

    std::fs::create_dir_all(&args.out)?;
    ctx.results.write_json(&args.out.join("latest.json"))?;
    let table = ctx.results.table();
    std::fs::write(args.out.join("latest.md"), &table)?;
    println!("{table}");
    match chart::font() {
        Ok(()) => chart::draw_all(&ctx.results, &args.out)?,
        Err(e) => eprintln!("charts skipped: {e:#}"),
    }
    for why in &ctx.skipped {
        eprintln!("skipped system {why}");
    }
    if !failed.is_empty() {
        anyhow::bail!("benchmarks failed:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// On Ctrl-C or SIGTERM, at any point of the run: stops every process group the run started
/// and removes the work directory, so nothing keeps running or listening.
fn stop_everything_on_signal(work: PathBuf) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("interrupted: stopping every process the benchmarks started");
        system::kill_all();
        let _ = std::fs::remove_dir_all(&work);
        std::process::exit(130);
    });
    Ok(())
}

/// The per-operation costs the floor is made of, for the record.
fn record_floor_ops(ctx: &mut Ctx) {
    let c = ctx.costs;
    for (metric, value) in [
        ("x25519_keygen_us", c.x25519_keygen),
        ("x25519_agree_us", c.x25519_agree),
        ("p256_sign_us", c.p256_sign),
        ("p256_verify_us", c.p256_verify),
        ("rsa2048_pss_sign_us", c.rsa2048_pss_sign),
        ("rsa2048_pss_verify_us", c.rsa2048_pss_verify),
        ("rsa2048_pkcs1_verify_us", c.rsa2048_pkcs1_verify),
    ] {
        ctx.results
            .add("crypto-floor", system::FLOOR, metric, value, "us");
    }
}
