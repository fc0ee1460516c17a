//! Starting and stopping the server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use repo_proto::repository::repo_server_service_server::RepoServerServiceServer;
use repo_proto::version::version_service_server::VersionServiceServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::authz::{Gate, GateLayer};
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::probe::Probe;
use crate::rpc::repository::Repository;
use crate::rpc::version::Version;
use crate::trace::TraceLayer;
use crate::transport::Transport;
use crate::{http, listener, Config};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tls(#[from] repo_tls::Error),
    #[error("could not stat client CA file {path}: {source}")]
    StatCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error(transparent)]
    Policy(#[from] repo_identity::PolicyError),
    #[error(transparent)]
    Git(#[from] repo_git::Error),
    /// The repository engine could not start (cache directories, fetcher).
    #[error("repository engine: {0}")]
    Engine(#[from] crate::engine::Error),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// A started server.
pub struct Running {
    /// Where gRPC listens (useful with port 0).
    pub grpc: SocketAddr,
    /// Where HTTP listens.
    pub http: SocketAddr,
    /// Whether client certificates are required.
    pub mtls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    /// Stops accepting, lets in-flight calls finish, and waits.
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap_or(Ok(()))
    }

    /// Runs until `signal` resolves, then stops.
    pub async fn until(self, signal: impl Future<Output = ()>) -> Result<(), Error> {
        signal.await;
        self.stop().await
    }
}

/// HTTP/2 limits per connection. RFC 9113 asks servers to allow at least 100 concurrent
/// streams, and 100 is what nghttp2 and Envoy's edge settings use; unlimited (tonic's default)
/// let one client open 100k streams and 1 GB. A component that needs more parallelism opens
/// another connection, as grpc-go does when it reaches the limit.
const MAX_STREAMS: u32 = 100;
/// Request metadata the server reads: gRPC calls from Argo CD carry a few hundred bytes;
/// 16 KiB is hyper's default, made explicit because it is advertised to clients.
const MAX_HEADER_LIST: u32 = 16 << 10;
/// Unread request data one stream may have buffered (h2's default), and the whole connection:
/// a client cannot make the server hold more than 1 MiB per connection that it has not read.
const STREAM_WINDOW: u32 = 64 << 10;
const CONNECTION_WINDOW: u32 = 1 << 20;

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })
}

/// Loads the TLS material, binds both ports and starts serving.
pub async fn start(config: Config) -> Result<Running, Error> {
    let metrics = Arc::new(Metrics::new());
    let gate = Gate::load(config.authorization_policy.as_ref())?;
    let transport = config
        .tls
        .as_ref()
        .map(|tls| Transport::start(tls, &metrics))
        .transpose()?;
    let grpc_listener = bind(config.grpc).await?;
    let grpc = grpc_listener.local_addr().map_err(|source| Error::Listen {
        addr: config.grpc,
        source,
    })?;
    let http_listener = bind(config.http).await?;
    let http = http_listener.local_addr().map_err(|source| Error::Listen {
        addr: config.http,
        source,
    })?;
    let mtls = transport
        .as_ref()
        .is_some_and(|t| t.acceptor.current().mtls());
    let probe = Probe::new(grpc, transport.as_ref().map(|t| &t.health), mtls)?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    // grpcurl before 1.9 speaks only the v1alpha reflection protocol; newer clients use v1.
    // Each version describes both reflection services, as grpc-go's `reflection.Register`
    // (upstream) does: it lists every service registered on the server.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(repo_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let limit = config.max_message_bytes;
    // Start-up file work (cache directories, the sandbox probe) off the async threads.
    let (settings, observed) = (config.engine.clone(), metrics.clone());
    let engine = tokio::task::spawn_blocking(move || Engine::new(&settings, observed))
        .await
        .map_err(|e| crate::engine::Error::internal("starting the repository engine", e))??;
    let engine = Arc::new(engine);
    let repository = RepoServerServiceServer::new(Repository::new(engine))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);

    let acceptor = transport.as_ref().map(|t| t.acceptor.clone());
    let follower = transport.map(|t| t.follow(metrics.clone()));
    let policy_follower = config
        .authorization_policy
        .clone()
        .map(|path| gate.follow(path, metrics.clone()));
    let lifetime = config
        .max_connection_age
        .map(|age| age + config.max_connection_age_grace);
    let incoming = listener::spawn(grpc_listener, acceptor, metrics.clone(), lifetime);
    let (stop, stopped) = oneshot::channel::<()>();
    let (http_stop, http_stopped) = oneshot::channel::<()>();
    let mut builder = Server::builder()
        .max_concurrent_streams(MAX_STREAMS)
        .http2_max_header_list_size(MAX_HEADER_LIST)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    if let Some(age) = config.max_connection_age {
        builder = builder.max_connection_age(age);
    }
    let grpc_server = builder
        .layer(TraceLayer(metrics.clone()))
        .layer(GateLayer {
            gate: gate.clone(),
            metrics: metrics.clone(),
        })
        .add_service(repository)
        .add_service(VersionServiceServer::new(Version))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(ReceiverStream::new(incoming), async {
            let _ = stopped.await;
        });
    let http_server = axum::serve(http_listener, http::router(metrics, probe))
        .with_graceful_shutdown(async {
            let _ = http_stopped.await;
        });
    tracing::info!(grpc = %grpc, metrics = %http, tls = config.tls.is_some(), mtls, "argocd-repo-server {} serving on {grpc}", env!("CARGO_PKG_VERSION"));
    let task = tokio::spawn(async move {
        let http_task = tokio::spawn(std::future::IntoFuture::into_future(http_server));
        let result = grpc_server.await;
        for task in [follower, policy_follower].into_iter().flatten() {
            task.abort();
        }
        let _ = http_stop.send(());
        let _ = http_task.await;
        result.map_err(Error::from)
    });
    Ok(Running {
        grpc,
        http,
        mtls,
        stop: Some(stop),
        task,
    })
}
