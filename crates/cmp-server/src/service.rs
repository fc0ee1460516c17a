//! `plugin.ConfigManagementPluginService`, as upstream's `cmpserver/plugin/plugin.go`: every
//! streamed call unpacks the application into its own directory (removed afterwards), then
//! runs the plugin's commands there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use repo_cmp::{receive, Limits as ReceiveLimits, Received};
use repo_proto::plugin::config_management_plugin_service_server::ConfigManagementPluginService;
use repo_proto::plugin::{
    AppStreamRequest, CheckPluginConfigurationResponse, ManifestRequestMetadata, ManifestResponse,
    ParametersAnnouncementResponse, RepositoryResponse,
};
use tokio::time::Instant;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::config::Plugin;
use crate::failure::Failure;
use crate::settings::Settings;
use crate::{discover, exec, output, params};

/// Work stops this long before the caller's deadline, so it gets the reason rather than its
/// own timeout (upstream's `cmpTimeoutBuffer`).
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct Service {
    plugin: Arc<Plugin>,
    settings: Arc<Settings>,
}

/// One call's unpacked application; its directory is removed on the blocking pool when
/// dropped, read-only directories included.
struct Call {
    received: Option<Received>,
    app_dir: PathBuf,
    env: Vec<(String, String)>,
    deadline: Option<Instant>,
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(received) = self.received.take() {
            repo_cmp::discard(received.dir);
        }
    }
}

impl Call {
    fn metadata(&self) -> &ManifestRequestMetadata {
        &self.received.as_ref().expect("until dropped").metadata
    }

    fn root(&self) -> &std::path::Path {
        self.received.as_ref().expect("until dropped").dir.path()
    }
}

impl Service {
    pub fn new(plugin: Plugin, settings: Settings) -> Self {
        Self {
            plugin: Arc::new(plugin),
            settings: Arc::new(settings),
        }
    }

    async fn receive(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
        call: &str,
    ) -> Result<Call, Failure> {
        let deadline = deadline(&request);
        let limits = ReceiveLimits {
            unpacked: self.settings.max_unpack,
            ..ReceiveLimits::default()
        };
        let received = receive(
            request.into_inner(),
            &self.settings.work_dir,
            limits,
            self.plugin.spec.preserve_file_mode,
        )
        .await
        .map_err(|e| {
            Failure::new(stream_code(&e), e.to_string())
                .context(&format!("{call} error receiving stream"))
        })?;
        let env = received
            .metadata
            .env
            .iter()
            // Upstream's `environ` drops entries without a name.
            .filter(|e| !e.name.is_empty())
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        let (received, app_dir) = tokio::task::spawn_blocking(move || {
            let app_dir = received.app_dir();
            (received, app_dir)
        })
        .await
        .map_err(|e| Failure::new(Code::Internal, e.to_string()))?;
        let mut call = Call {
            received: Some(received),
            app_dir: PathBuf::new(),
            env,
            deadline,
        };
        // An error drops `call`, which discards the tree.
        call.app_dir = app_dir
            .map_err(|e| Failure::new(Code::InvalidArgument, format!("illegal appPath: {e}")))?;
        tracing::info!(
            app = %call.metadata().app_name,
            path = %call.metadata().app_rel_path,
            "received the application"
        );
        Ok(call)
    }

    async fn generate(&self, call: &Call) -> Result<Vec<String>, Failure> {
        let spec = &self.plugin.spec;
        let limits = &self.settings.limits;
        if spec.init.is_set() {
            exec::run(&spec.init, &call.app_dir, &call.env, limits, call.deadline).await?;
        }
        let out = exec::run(
            &spec.generate,
            &call.app_dir,
            &call.env,
            limits,
            call.deadline,
        )
        .await?;
        tokio::task::spawn_blocking(move || output::manifests(&out))
            .await
            .map_err(|e| Failure::new(Code::Internal, e.to_string()))?
            .map_err(|e| Failure::new(Code::InvalidArgument, e))
    }
}

#[tonic::async_trait]
impl ConfigManagementPluginService for Service {
    async fn generate_manifest(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Result<Response<ManifestResponse>, Status> {
        let call = self.receive(request, "generate manifest").await?;
        let manifests = self
            .generate(&call)
            .await
            .map_err(|f| f.context("error generating manifests"))?;
        Ok(Response::new(ManifestResponse {
            manifests,
            source_type: String::new(),
        }))
    }

    async fn check_plugin_configuration(
        &self,
        _: Request<()>,
    ) -> Result<Response<CheckPluginConfigurationResponse>, Status> {
        Ok(Response::new(CheckPluginConfigurationResponse {
            is_discovery_configured: self.plugin.spec.discover.is_defined(),
            provide_git_creds: self.plugin.spec.provide_git_creds,
        }))
    }

    async fn match_repository(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Result<Response<RepositoryResponse>, Status> {
        let call = self.receive(request, "match repository").await?;
        let (is_supported, is_discovery_enabled) = discover::matches(
            &self.plugin.spec.discover,
            call.root(),
            &call.metadata().app_rel_path,
            &call.app_dir,
            &call.env,
            &self.settings.limits,
            call.deadline,
        )
        .await
        .map_err(|f| f.context("match repository error"))?;
        Ok(Response::new(RepositoryResponse {
            is_supported,
            is_discovery_enabled,
        }))
    }

    async fn get_parameters_announcement(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Result<Response<ParametersAnnouncementResponse>, Status> {
        let call = self.receive(request, "parameters announcement").await?;
        let parameter_announcements = params::announcements(
            &self.plugin.spec.parameters,
            &call.app_dir,
            &call.env,
            &self.settings.limits,
            call.deadline,
        )
        .await
        .map_err(|f| f.context("get parameters announcement error"))?;
        Ok(Response::new(ParametersAnnouncementResponse {
            parameter_announcements,
        }))
    }
}

fn stream_code(e: &repo_cmp::Error) -> Code {
    match e {
        repo_cmp::Error::TooLarge { .. } => Code::ResourceExhausted,
        repo_cmp::Error::Stream(status) => status.code(),
        repo_cmp::Error::Io { .. } => Code::Internal,
        _ => Code::InvalidArgument,
    }
}

/// The caller's deadline (`grpc-timeout`), less the margin.
fn deadline<T>(request: &Request<T>) -> Option<Instant> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let timeout = grpc_timeout(value)?;
    Some(Instant::now() + timeout.saturating_sub(DEADLINE_MARGIN))
}

/// gRPC's `TimeoutValue TimeoutUnit`: up to 8 digits and one of `HMSmun`.
fn grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(grpc_timeout("123456789S"), None);
        assert_eq!(grpc_timeout("S"), None);
        assert_eq!(grpc_timeout(""), None);
        assert_eq!(grpc_timeout("5x"), None);
    }
}
