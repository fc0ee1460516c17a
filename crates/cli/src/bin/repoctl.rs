//! repoctl: certificate tooling and client calls for the repo-server link.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use repo_server::config::{LogFormat, LogLevel};

fn level(value: &str) -> Result<LogLevel, &'static str> {
    value
        .parse()
        .map_err(|()| "must be one of trace, debug, info, warn, error")
}

/// Tooling for Argo CD's repo-server mTLS.
#[derive(Debug, Parser)]
#[command(name = "repoctl", version)]
struct Args {
    /// Log level for diagnostics on stderr
    #[arg(long, global = true, default_value = "warn", value_parser = level)]
    loglevel: LogLevel,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call the repo-server as an Argo CD component would
    Call(Box<repo_cli::call::Call>),
    /// Create, inspect and check the certificates of the repo-server link
    #[command(subcommand)]
    Certs(repo_certs::Command),
    /// Test an authorization policy
    #[command(subcommand)]
    Policy(repo_cli::policy::Command),
    /// Print the generated flag and metric reference (docs/flags.md)
    #[command(hide = true)]
    Docs,
}

fn main() -> ExitCode {
    repo_tls::install_provider();
    let args = Args::parse();
    repo_cli::logging::init(LogFormat::Text, args.loglevel, None);
    let result = match args.command {
        Command::Call(call) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(repo_cli::call::run(*call)),
        Command::Certs(cmd) => repo_certs::run(cmd).map_err(|e| e.to_string()),
        Command::Policy(cmd) => repo_cli::policy::run(cmd),
        Command::Docs => {
            print!("{}", repo_cli::reference::markdown());
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|err| {
        eprintln!("repoctl: {err}");
        ExitCode::FAILURE
    })
}
