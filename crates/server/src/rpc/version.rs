//! `version.VersionService`.

use repo_proto::version::version_service_server::VersionService;
use repo_proto::version::VersionMessage;
use tonic::{Request, Response, Status};

#[derive(Debug, Default)]
pub(crate) struct Version;

/// The architecture as Go names it, since clients compare with upstream's `GOARCH`.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// What this build reports.
pub(crate) fn message() -> VersionMessage {
    VersionMessage {
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
        compiler: "rustc".to_string(),
        platform: format!("{}/{}", std::env::consts::OS, go_arch()),
        extra_build_info: "argocd-repo-server (Rust)".to_string(),
        ..VersionMessage::default()
    }
}

#[tonic::async_trait]
impl VersionService for Version {
    async fn version(&self, _: Request<()>) -> Result<Response<VersionMessage>, Status> {
        Ok(Response::new(message()))
    }
}
