//! A minimal plugin sidecar for the tests: each streaming call receives the tree with the real
//! receiver and answers what arrived (metadata, and every entry with its kind, mode and content
//! digest), so both ends of the stream are exercised over a real unix socket.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use repo_cmp::{receive, Limits, Received};
use repo_proto::plugin::app_stream_request::Request as Part;
use repo_proto::plugin::config_management_plugin_service_client::ConfigManagementPluginServiceClient;
use repo_proto::plugin::config_management_plugin_service_server::{
    ConfigManagementPluginService, ConfigManagementPluginServiceServer,
};
use repo_proto::plugin::{
    AppStreamRequest, CheckPluginConfigurationResponse, ManifestResponse,
    ParametersAnnouncementResponse, RepositoryResponse,
};
use repo_proto::repository::ParameterAnnouncement;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::{Channel, Endpoint, Server, Uri};
use tonic::{Request, Response, Status, Streaming};

/// How the test sidecar behaves.
#[derive(Debug, Clone)]
pub(crate) struct Behavior {
    pub(crate) limits: Limits,
    pub(crate) preserve_mode: bool,
    /// Answered by CheckPluginConfiguration.
    pub(crate) discovery: bool,
    /// MatchRepository says yes when the app directory holds this file.
    pub(crate) marker: &'static str,
    /// GenerateManifest never answers.
    pub(crate) stall: bool,
    /// GenerateManifest fails with this text instead of answering.
    pub(crate) fail_with: Option<String>,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            preserve_mode: false,
            discovery: true,
            marker: "match.me",
            stall: false,
            fail_with: None,
        }
    }
}

/// A running test sidecar: its socket lives in `sockets`, its work directories in `work`.
pub(crate) struct Sidecar {
    pub(crate) socket: PathBuf,
    pub(crate) work: TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves a sidecar named `name` on `<dir>/<name>.sock`.
pub(crate) async fn serve(dir: &Path, name: &str, behavior: Behavior) -> Sidecar {
    let socket = dir.join(format!("{name}.sock"));
    let work = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(&socket).unwrap();
    let service = Service {
        behavior: Arc::new(behavior),
        work: work.path().to_path_buf(),
    };
    let task = tokio::spawn(async move {
        Server::builder()
            .add_service(
                ConfigManagementPluginServiceServer::new(service)
                    .max_decoding_message_size(repo_cmp::DEFAULT_MAX_MESSAGE),
            )
            .serve_with_incoming(UnixListenerStream::new(listener))
            .await
            .unwrap();
    });
    Sidecar { socket, work, task }
}

/// A raw client on `socket`, for streams no honest sender writes.
async fn raw_client(socket: &Path) -> ConfigManagementPluginServiceClient<Channel> {
    let socket = socket.to_path_buf();
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await
        .unwrap();
    ConfigManagementPluginServiceClient::new(channel)
}

#[derive(Clone)]
struct Service {
    behavior: Arc<Behavior>,
    work: PathBuf,
}

/// Passes the stream through, counting its `File` messages.
fn counted(
    stream: Streaming<AppStreamRequest>,
    chunks: Arc<AtomicUsize>,
) -> impl Stream<Item = Result<AppStreamRequest, Status>> + Unpin {
    stream.inspect(move |m| {
        if let Ok(AppStreamRequest {
            request: Some(Part::File(_)),
        }) = m
        {
            chunks.fetch_add(1, Ordering::Relaxed);
        }
    })
}

impl Service {
    async fn take(&self, stream: Streaming<AppStreamRequest>) -> Result<(Received, usize), Status> {
        let chunks = Arc::new(AtomicUsize::new(0));
        let b = &self.behavior;
        let received = receive(
            counted(stream, chunks.clone()),
            &self.work,
            b.limits,
            b.preserve_mode,
        )
        .await
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok((received, chunks.load(Ordering::Relaxed)))
    }
}

/// One line per entry below `dir`, in name order: `file <path> <mode> <sha256>`,
/// `dir <path> <mode>`, `link <path> -> <target>`.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            let meta = e.path().symlink_metadata().unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                format!("link {rel} -> {}", target.display())
            } else if meta.is_dir() {
                format!("dir {rel} {mode:o}")
            } else {
                let sha = hex::encode(Sha256::digest(std::fs::read(e.path()).unwrap()));
                format!("file {rel} {mode:o} {sha}")
            }
        })
        .collect()
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ConfigManagementPluginService for Service {
    async fn generate_manifest(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Answer<ManifestResponse> {
        let timeout = request
            .metadata()
            .get("grpc-timeout")
            .map(|v| v.to_str().unwrap().to_string());
        let (received, chunks) = self.take(request.into_inner()).await?;
        if self.behavior.stall {
            std::future::pending::<()>().await;
        }
        if let Some(text) = &self.behavior.fail_with {
            return Err(Status::unknown(text.clone()));
        }
        let m = &received.metadata;
        let env: Vec<String> = m
            .env
            .iter()
            .map(|e| format!("{}={}", e.name, e.value))
            .collect();
        let mut manifests = vec![
            format!("appName {}", m.app_name),
            format!("appRelPath {}", m.app_rel_path),
            format!("env {}", env.join(",")),
            format!("chunks {chunks}"),
            format!("grpc-timeout {}", timeout.unwrap_or_default()),
        ];
        let dir = received.dir.path().to_path_buf();
        manifests.extend(
            tokio::task::spawn_blocking(move || listing(&dir))
                .await
                .unwrap(),
        );
        repo_cmp::discard(received.dir);
        Ok(Response::new(ManifestResponse {
            manifests,
            source_type: "Plugin".to_string(),
        }))
    }

    async fn check_plugin_configuration(
        &self,
        _: Request<()>,
    ) -> Answer<CheckPluginConfigurationResponse> {
        Ok(Response::new(CheckPluginConfigurationResponse {
            is_discovery_configured: self.behavior.discovery,
            provide_git_creds: false,
        }))
    }

    async fn match_repository(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Answer<RepositoryResponse> {
        let (received, _) = self.take(request.into_inner()).await?;
        let marker = self.behavior.marker;
        let (found, received) = tokio::task::spawn_blocking(move || {
            let found = received.app_dir().is_ok_and(|d| d.join(marker).is_file());
            (found, received)
        })
        .await
        .unwrap();
        repo_cmp::discard(received.dir);
        Ok(Response::new(RepositoryResponse {
            is_supported: found,
            is_discovery_enabled: true,
        }))
    }

    async fn get_parameters_announcement(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Answer<ParametersAnnouncementResponse> {
        let (received, _) = self.take(request.into_inner()).await?;
        let name = received.metadata.app_rel_path.clone();
        repo_cmp::discard(received.dir);
        Ok(Response::new(ParametersAnnouncementResponse {
            parameter_announcements: vec![ParameterAnnouncement {
                name,
                ..Default::default()
            }],
        }))
    }
}

/// A boxed stream of crafted requests, as the raw client sends them.
type Crafted = Pin<Box<dyn Stream<Item = AppStreamRequest> + Send>>;

/// The metadata message for `archive` as an honest sender would write it.
pub(crate) fn metadata_for(archive: &[u8]) -> AppStreamRequest {
    AppStreamRequest {
        request: Some(Part::Metadata(
            repo_proto::plugin::ManifestRequestMetadata {
                app_name: "app".to_string(),
                app_rel_path: ".".to_string(),
                checksum: hex::encode(Sha256::digest(archive)),
                size: archive.len() as i64,
                env: Vec::new(),
            },
        )),
    }
}

/// A `File` message.
pub(crate) fn chunk(bytes: &[u8]) -> AppStreamRequest {
    AppStreamRequest {
        request: Some(Part::File(repo_proto::plugin::File {
            chunk: bytes.to_vec(),
        })),
    }
}

/// Sends `messages` to GenerateManifest on `socket` and answers the plugin's status, or its
/// manifests.
pub(crate) async fn send_crafted(
    socket: &Path,
    messages: Vec<AppStreamRequest>,
) -> Result<Vec<String>, Status> {
    let stream: Crafted = Box::pin(tokio_stream::iter(messages));
    raw_client(socket)
        .await
        .generate_manifest(stream)
        .await
        .map(|r| r.into_inner().manifests)
}
