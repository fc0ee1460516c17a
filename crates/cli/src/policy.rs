//! `repoctl policy check`: what the repo-server would decide for a certificate and a method.

use std::path::PathBuf;
use std::process::ExitCode;

use repo_identity::{Decision, Identity, Policy, SERVICE};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Would the repo-server let this certificate call this method? Exits 0 if allowed, 1 if not
    Check {
        /// Authorization policy file
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Client certificate (PEM)
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// RPC name of repository.RepoServerService, or a full gRPC path
        #[arg(long, value_name = "NAME")]
        method: String,
    },
}

pub fn run(cmd: Command) -> Result<ExitCode, String> {
    let Command::Check {
        policy,
        cert,
        method,
    } = cmd;
    let policy = Policy::load(&policy).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&cert).map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
    let der =
        CertificateDer::from_pem_slice(&bytes).map_err(|e| format!("{}: {e}", cert.display()))?;
    let identity = Identity::from_der(&der)
        .ok_or_else(|| format!("{}: not a parsable certificate", cert.display()))?;
    let path = if method.starts_with('/') {
        method
    } else {
        format!("/{SERVICE}/{method}")
    };
    if path.starts_with("/grpc.health.v1.Health/") {
        println!("allowed: health checks are always allowed");
        return Ok(ExitCode::SUCCESS);
    }
    match policy.decide(&identity, &path) {
        Decision::Allowed { rule } => {
            println!("allowed: rule {} lets {identity} call {path}", rule + 1);
            Ok(ExitCode::SUCCESS)
        }
        Decision::Denied => {
            println!("denied: no rule lets {identity} call {path}");
            Ok(ExitCode::FAILURE)
        }
    }
}
