//! `repoctl call`: invoke the repo-server the way a given Argo CD component would, and print
//! the response as JSON.

mod json;
mod repo;
mod source;

use std::process::ExitCode;

use repo_client::{Component, Flags, RepoServerServiceClient, Settings, VersionServiceClient};
use repo_proto::repository as rpc;
use repo_proto::v1alpha1::{Application, ApplicationSpec};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub use repo::RepoArgs;
pub use source::{AppArgs, SourceArgs};

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

/// The call to make. Repository credentials come from `REPOCTL_REPO_USERNAME`,
/// `REPOCTL_REPO_PASSWORD` and `REPOCTL_REPO_BEARER_TOKEN`, never from flags.
#[derive(Debug, clap::Subcommand)]
pub enum Rpc {
    /// grpc.health.v1.Health/Check; exits 0 when SERVING
    Health,
    /// version.VersionService/Version
    Version,
    /// ListRefs: branches and tags
    ListRefs(Repo),
    /// ResolveRevision: a revision to a commit SHA
    ResolveRevision {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// TestRepository: can the repository be reached with these credentials
    TestRepository(Repo),
    /// GenerateManifest: render an application
    GenerateManifest {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        app: AppArgs,
    },
    /// ListApps: application directories at a revision
    ListApps {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long, default_value = "HEAD")]
        revision: String,
    },
    /// GetAppDetails: the source type and its parameters
    GetAppDetails {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long, default_value = "repoctl")]
        app_name: String,
    },
    /// GetRevisionMetadata: author, date, tags and message of a commit
    GetRevisionMetadata {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long, default_value = "HEAD")]
        revision: String,
    },
    /// GetGitFiles: files matching a glob, with their contents
    GetGitFiles {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long, default_value = "HEAD")]
        revision: String,
        /// Glob, e.g. `apps/**/config.json`
        #[arg(long = "glob")]
        path: String,
    },
    /// GetGitDirectories: every directory at a revision
    GetGitDirectories {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long, default_value = "HEAD")]
        revision: String,
    },
    /// GetHelmCharts: charts of a Helm repository index
    GetHelmCharts(Repo),
    /// UpdateRevisionForPaths: did the paths change between two commits
    UpdateRevisionForPaths {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        app: AppArgs,
        /// The revision the application is synced to
        #[arg(long)]
        synced_revision: String,
        /// Paths of the manifest-generate-paths annotation (repeatable)
        #[arg(long = "changed-path")]
        paths: Vec<String>,
    },
}

/// Just the repository flags.
#[derive(Debug, clap::Args)]
pub struct Repo {
    #[command(flatten)]
    pub repo: RepoArgs,
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
            println!("{}", serde_json::json!({ "status": status.as_str_name() }));
            Ok(if status == ServingStatus::Serving {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Rpc::Version => {
            let reply = VersionServiceClient::new(channel)
                .version(())
                .await
                .map_err(failed)?;
            println!(
                "{}",
                json::render(reply.get_ref(), "version.VersionMessage")
            );
            Ok(ExitCode::SUCCESS)
        }
        rpc => {
            let (message, name) = repository(RepoServerServiceClient::new(channel), rpc)
                .await
                .map_err(failed)?;
            println!("{}", json::render_any(&message, name));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// An encoded response and its proto type name.
type Reply = (Vec<u8>, &'static str);

fn encoded<M: prost::Message>(reply: tonic::Response<M>, name: &'static str) -> Reply {
    (reply.into_inner().encode_to_vec(), name)
}

async fn repository(
    mut client: RepoServerServiceClient<Channel>,
    rpc: Rpc,
) -> Result<Reply, tonic::Status> {
    let env = repo_env::Process;
    let invalid = tonic::Status::invalid_argument;
    let repository = |args: &RepoArgs| args.repository(&env).map_err(invalid);
    let source = |args: &SourceArgs, repo: &RepoArgs| args.source(&repo.url).map_err(invalid);
    Ok(match rpc {
        Rpc::Health | Rpc::Version => unreachable!("handled by run"),
        Rpc::ListRefs(Repo { repo }) => encoded(
            client
                .list_refs(rpc::ListRefsRequest {
                    repo: Some(repository(&repo)?),
                })
                .await?,
            "repository.Refs",
        ),
        Rpc::ResolveRevision { repo, source: src } => {
            let app = Application {
                spec: Some(ApplicationSpec {
                    source: Some(source(&src, &repo)?),
                    ..Default::default()
                }),
                ..Default::default()
            };
            encoded(
                client
                    .resolve_revision(rpc::ResolveRevisionRequest {
                        repo: Some(repository(&repo)?),
                        app: Some(app),
                        ambiguous_revision: src.revision.clone(),
                        ..Default::default()
                    })
                    .await?,
                "repository.ResolveRevisionResponse",
            )
        }
        Rpc::TestRepository(Repo { repo }) => encoded(
            client
                .test_repository(rpc::TestRepositoryRequest {
                    repo: Some(repository(&repo)?),
                })
                .await?,
            "repository.TestRepositoryResponse",
        ),
        Rpc::GenerateManifest {
            repo,
            source: src,
            app,
        } => encoded(
            client
                .generate_manifest(rpc::ManifestRequest {
                    repo: Some(repository(&repo)?),
                    revision: src.revision.clone(),
                    no_cache: app.no_cache,
                    app_label_key: app.app_label_key,
                    app_name: app.app_name,
                    namespace: app.namespace,
                    application_source: Some(source(&src, &repo)?),
                    kube_version: app.kube_version,
                    api_versions: app.api_versions,
                    tracking_method: app.tracking_method,
                    installation_id: app.installation_id,
                    ..Default::default()
                })
                .await?,
            "repository.ManifestResponse",
        ),
        Rpc::ListApps { repo, revision } => encoded(
            client
                .list_apps(rpc::ListAppsRequest {
                    repo: Some(repository(&repo)?),
                    revision,
                    ..Default::default()
                })
                .await?,
            "repository.AppList",
        ),
        Rpc::GetAppDetails {
            repo,
            source: src,
            app_name,
        } => encoded(
            client
                .get_app_details(rpc::RepoServerAppDetailsQuery {
                    repo: Some(repository(&repo)?),
                    source: Some(source(&src, &repo)?),
                    app_name,
                    ..Default::default()
                })
                .await?,
            "repository.RepoAppDetailsResponse",
        ),
        Rpc::GetRevisionMetadata { repo, revision } => encoded(
            client
                .get_revision_metadata(rpc::RepoServerRevisionMetadataRequest {
                    repo: Some(repository(&repo)?),
                    revision,
                    ..Default::default()
                })
                .await?,
            "github.com.argoproj.argo_cd.v3.pkg.apis.application.v1alpha1.RevisionMetadata",
        ),
        Rpc::GetGitFiles {
            repo,
            revision,
            path,
        } => encoded(
            client
                .get_git_files(rpc::GitFilesRequest {
                    repo: Some(repository(&repo)?),
                    revision,
                    path,
                    new_git_file_globbing_enabled: true,
                    ..Default::default()
                })
                .await?,
            "repository.GitFilesResponse",
        ),
        Rpc::GetGitDirectories { repo, revision } => encoded(
            client
                .get_git_directories(rpc::GitDirectoriesRequest {
                    repo: Some(repository(&repo)?),
                    revision,
                    ..Default::default()
                })
                .await?,
            "repository.GitDirectoriesResponse",
        ),
        Rpc::GetHelmCharts(Repo { repo }) => encoded(
            client
                .get_helm_charts(rpc::HelmChartsRequest {
                    repo: Some(repository(&repo)?),
                })
                .await?,
            "repository.HelmChartsResponse",
        ),
        Rpc::UpdateRevisionForPaths {
            repo,
            source: src,
            app,
            synced_revision,
            paths,
        } => encoded(
            client
                .update_revision_for_paths(rpc::UpdateRevisionForPathsRequest {
                    repo: Some(repository(&repo)?),
                    app_label_key: app.app_label_key,
                    app_name: app.app_name,
                    namespace: app.namespace,
                    application_source: Some(source(&src, &repo)?),
                    tracking_method: app.tracking_method,
                    kube_version: app.kube_version,
                    api_versions: app.api_versions,
                    synced_revision,
                    revision: src.revision.clone(),
                    paths,
                    installation_id: app.installation_id,
                    ..Default::default()
                })
                .await?,
            "repository.UpdateRevisionForPathsResponse",
        ),
    })
}
