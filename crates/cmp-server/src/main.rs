//! `argocd-cmp-server`: reads the plugin definition and serves it until SIGTERM or SIGINT.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use repo_cmp_server::config::Plugin;
use repo_cmp_server::serve::serve;
use repo_cmp_server::settings::{Flags, Settings};
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("argocd-cmp-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let settings = Settings::resolve(Flags::parse(), &repo_env::Process)?;
    let filter = tracing_subscriber::EnvFilter::new(&settings.log_level);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let plugin = Plugin::read(&settings.config_dir).map_err(|e| e.to_string())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?
        .block_on(async {
            let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
            let stop = async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                tracing::info!("shutting down");
            };
            serve(plugin, settings, stop).await
        })
}
