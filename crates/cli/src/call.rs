//! `repoctl call`: invoke the repo-server the way a given Argo CD component would.

use std::process::ExitCode;

use repo_client::{Component, Flags, Settings, VersionServiceClient};
use serde_json::json;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Arguments of `repoctl call`.
#[derive(Debug, clap::Args)]
pub struct Call {
    /// Which component's flags and environment variables to use
    #[arg(long, value_enum, default_value = "server")]
    pub component: Component,
    #[command(flatten)]
    pub flags: Flags,
    #[command(subcommand)]
    pub rpc: Rpc,
}

/// The call to make.
#[derive(Debug, clap::Subcommand)]
pub enum Rpc {
    /// grpc.health.v1.Health/Check; exits 0 when SERVING
    Health,
    /// version.VersionService/Version
    Version,
}

/// A TLS 1.3 client learns of its refusal only as a dropped connection; say what it presented.
fn refusal_hint(settings: &Settings) -> String {
    if settings.plaintext {
        return String::new();
    }
    match &settings.client_cert {
        Some((cert, _)) if cert.exists() => format!(
            " (presented client certificate {}; if the repo-server refused it, its log line 'TLS handshake rejected' gives the reason)",
            cert.display()
        ),
        Some((cert, _)) => format!(
            " (no client certificate presented: {} does not exist; a repo-server with mTLS refuses such clients)",
            cert.display()
        ),
        None => " (no client certificate configured; a repo-server with mTLS refuses such clients)".to_string(),
    }
}

/// Runs the call and prints the response as JSON.
pub async fn run(call: Call) -> Result<ExitCode, String> {
    if call.flags.repo_server_strict_tls.is_some() {
        eprintln!("Flag --repo-server-strict-tls has been deprecated, use --repo-server-ca-cert-path instead");
    }
    let settings = Settings::resolve(call.component, call.flags, &repo_env::Process)
        .map_err(|e| e.to_string())?;
    let channel = repo_client::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let hint = refusal_hint(&settings);
    let failed = |s: tonic::Status| format!("{}: {}{hint}", s.code(), s.message());
    match call.rpc {
        Rpc::Health => {
            let reply = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map_err(failed)?
                .into_inner();
            let status = reply.status();
            println!("{}", json!({ "status": status.as_str_name() }));
            Ok(
                if status == tonic_health::pb::health_check_response::ServingStatus::Serving {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
        Rpc::Version => {
            let v = VersionServiceClient::new(channel)
                .version(())
                .await
                .map_err(failed)?
                .into_inner();
            let out = json!({
                "Version": v.version, "BuildDate": v.build_date, "GitCommit": v.git_commit,
                "GitTag": v.git_tag, "GitTreeState": v.git_tree_state, "GoVersion": v.go_version,
                "Compiler": v.compiler, "Platform": v.platform, "KustomizeVersion": v.kustomize_version,
                "HelmVersion": v.helm_version, "KubectlVersion": v.kubectl_version,
                "JsonnetVersion": v.jsonnet_version, "ExtraBuildInfo": v.extra_build_info,
            });
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
