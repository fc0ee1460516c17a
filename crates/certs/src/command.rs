//! The `repoctl certs` subcommands and their output.

use std::io::Write;
use std::process::ExitCode;

use time::OffsetDateTime;

use crate::{check, init, inspect, next_steps, revoke, Check, Error, Init, Inspect, Level, Revoke};

/// `repoctl certs`: the certificate tooling that replaces the openssl steps of the mTLS guide.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Create a CA, the serving certificate, client certificates and the Secret manifests
    ///
    /// The shared client certificate has CN=argocd-repo-server-client; with --per-component
    /// each component gets its own, with its name as CN.
    Init(Init),
    /// Describe the certificates in PEM files and warn about what would break the mTLS link
    Inspect(Inspect),
    /// Check a mounted argocd-repo-server-mtls directory end to end; exits 1 on any problem
    Check(Check),
    /// Revoke client certificates: write or extend the CRL mounted as client-crl.pem
    Revoke(Revoke),
}

/// Runs a subcommand, printing to stdout. The exit code is 1 when `check` finds a problem.
pub fn run(cmd: Command) -> Result<ExitCode, Error> {
    run_to(cmd, &mut std::io::stdout().lock())
}

/// [`run`], printing to `out`.
pub fn run_to(cmd: Command, out: &mut impl Write) -> Result<ExitCode, Error> {
    match cmd {
        Command::Init(args) => {
            let written = init(&args)?;
            writeln!(out, "Wrote:").map_err(Error::Output)?;
            for path in &written {
                writeln!(out, "  {}", path.display()).map_err(Error::Output)?;
            }
            write!(out, "{}", next_steps(&args)).map_err(Error::Output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect(args) => {
            let now = OffsetDateTime::now_utc();
            for path in &args.files {
                let summaries = inspect(path, now)?;
                let count = summaries.len();
                for (i, summary) in summaries.iter().enumerate() {
                    writeln!(out, "{} (certificate {} of {count})", path.display(), i + 1)
                        .map_err(Error::Output)?;
                    writeln!(out, "{summary}").map_err(Error::Output)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke(args) => {
            let count = revoke(&args)?;
            writeln!(
                out,
                "Wrote {} revoking {count} certificate(s); put it in the argocd-repo-server-mtls Secret as client-crl.pem (the repo-server reloads it live)",
                args.out.display()
            )
            .map_err(Error::Output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let findings = check(&args);
            for finding in &findings {
                writeln!(out, "{finding}").map_err(Error::Output)?;
            }
            let problems = findings.iter().filter(|f| f.level == Level::Error).count();
            if problems == 0 {
                writeln!(out, "no problems found").map_err(Error::Output)?;
                Ok(ExitCode::SUCCESS)
            } else {
                writeln!(out, "{problems} problem(s) found").map_err(Error::Output)?;
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
