//! argocd-repo-server: upstream's flags, environment and behaviour; see `--help`.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::Path;
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

/// Drops a first argument that names this binary. Upstream's manifests and the argo-helm
/// chart run the multi-call `argocd` image as `args: [/usr/local/bin/argocd-repo-server, ...]`,
/// so with this image's entrypoint the binary's own path arrives as the first argument.
fn arguments(mut argv: Vec<OsString>) -> Vec<OsString> {
    let names_self = argv
        .get(1)
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|name| name == "argocd-repo-server");
    if names_self {
        argv.remove(1);
    }
    argv
}

fn main() -> ExitCode {
    // The server runs itself as the sandboxed Jsonnet evaluator (repo_render::evaluator_main).
    if std::env::args_os().nth(1).as_deref() == Some(repo_render::EVALUATOR_ARG.as_ref()) {
        return repo_render::evaluator_main();
    }
    // ... and as the launcher that confines a tool with Landlock (repo_render::sandbox_main).
    if std::env::args_os().nth(1).as_deref() == Some(repo_render::SANDBOX_ARG.as_ref()) {
        return repo_render::sandbox_main();
    }
    repo_tls::install_provider();
    let args = Args::parse_from(arguments(std::env::args_os().collect()));
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
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    // The exporter's gRPC channel lives on the runtime.
    let tracing = match config.otlp.as_ref().map(|otlp| {
        let _entered = runtime.enter();
        repo_server::Tracing::start(otlp)
    }) {
        None => None,
        Some(Ok(tracing)) => Some(tracing),
        Some(Err(err)) => {
            eprintln!("argocd-repo-server: {err}");
            return ExitCode::FAILURE;
        }
    };
    repo_cli::logging::init(config.log_format, config.log_level, tracing.as_ref());
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let code = runtime.block_on(async {
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
    });
    // The last spans go out while the runtime still runs the exporter's channel.
    if let Some(tracing) = tracing {
        tracing.stop();
    }
    code
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Vec<OsString> {
        arguments(argv.iter().map(OsString::from).collect())
    }

    #[test]
    fn binary_path_first_is_skipped() {
        // The argo-helm chart and upstream's manifests: args: [/usr/local/bin/argocd-repo-server, ...]
        assert_eq!(
            args(&[
                "argocd-repo-server",
                "/usr/local/bin/argocd-repo-server",
                "--port",
                "1"
            ]),
            args(&["argocd-repo-server", "--port", "1"])
        );
        assert_eq!(
            args(&["/app/argocd-repo-server", "argocd-repo-server"]),
            args(&["/app/argocd-repo-server"])
        );
        let parsed = Args::try_parse_from(args(&[
            "argocd-repo-server",
            "/usr/local/bin/argocd-repo-server",
            "--port",
            "8081",
            "--loglevel",
            "debug",
        ]))
        .unwrap();
        assert_eq!(parsed.flags.port, Some(8081));
    }

    #[test]
    fn other_positionals_are_still_refused() {
        for stray in ["/usr/local/bin/argocd", "argocd-repo-server-x", "--port"] {
            let argv = args(&["argocd-repo-server", stray, "8081"]);
            assert_eq!(argv.len(), 3, "{stray} was dropped");
        }
        let err = Args::try_parse_from(args(&["argocd-repo-server", "/usr/local/bin/argocd"]))
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
