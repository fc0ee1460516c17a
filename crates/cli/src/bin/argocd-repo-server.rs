//! argocd-repo-server: upstream's flags, environment and behaviour; see `--help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use repo_server::{Config, Flags};

/// Argo CD repo-server with native mutual TLS.
#[derive(Debug, Parser)]
#[command(name = "argocd-repo-server", version)]
struct Args {
    #[command(flatten)]
    flags: Flags,
}

fn main() -> ExitCode {
    repo_tls::install_provider();
    let args = Args::parse();
    if args.flags.tlsciphers.as_deref() == Some("list") {
        print!("{}", repo_tls::list_ciphers());
        return ExitCode::SUCCESS;
    }
    let config = match Config::resolve(args.flags, &repo_env::Process) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("argocd-repo-server: {err}");
            return ExitCode::FAILURE;
        }
    };
    repo_cli::logging::init(&config.log_format, &config.log_level);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let running = match repo_server::start(config).await {
            Ok(running) => running,
            Err(err) => {
                tracing::error!(error = %err, "failed to start: {err}");
                return ExitCode::FAILURE;
            }
        };
        match running.until(shutdown()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "server failed: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
