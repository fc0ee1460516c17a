//! The repo-server side's client of one plugin sidecar, over its unix socket: the four calls,
//! each bounded by a deadline.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use repo_proto::plugin::config_management_plugin_service_client::ConfigManagementPluginServiceClient;
use repo_proto::plugin::{
    CheckPluginConfigurationResponse, EnvEntry, ManifestResponse, ParametersAnnouncementResponse,
    RepositoryResponse,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::send::DEFAULT_CHUNK_SIZE;
use crate::{Error, Packed, Sockets};

/// Upstream's gRPC message cap (`ARGOCD_GRPC_MAX_SIZE_MB`, 100), in bytes.
pub const DEFAULT_MAX_MESSAGE: usize = 100 << 20;

/// Bytes of a plugin's error text kept in [`Error::Plugin`].
const MAX_ERROR: usize = 4096;

/// How plugins are dialed and called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dial {
    /// Bound on connecting and on each call, streaming the archive included.
    pub deadline: Duration,
    /// Largest gRPC message sent or received.
    pub max_message: usize,
    /// `ARGOCD_CMP_CHUNK_SIZE`: bytes of archive per `File` message.
    pub chunk_size: usize,
}

impl Default for Dial {
    /// 90 s (upstream's `ARGOCD_EXEC_TIMEOUT` default for the plugin's commands), upstream's
    /// message cap and chunk size.
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(90),
            max_message: DEFAULT_MAX_MESSAGE,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// A connected plugin sidecar. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct Plugin {
    name: String,
    client: ConfigManagementPluginServiceClient<Channel>,
    dial: Dial,
}

impl Plugin {
    /// Connects to the plugin named `name` (`<name>.sock` in `sockets`).
    pub async fn named(sockets: &Sockets, name: &str, dial: Dial) -> Result<Self, Error> {
        Self::connect(name, sockets.path(name)?, dial).await
    }

    /// Connects to the socket at `path`; `name` names the plugin in errors.
    pub async fn connect(name: &str, path: PathBuf, dial: Dial) -> Result<Self, Error> {
        match tokio::fs::metadata(&path).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoSocket { path })
            }
            Err(e) => return Err(Error::io(format!("plugin socket {}", path.display()), e)),
            Ok(_) => {}
        }
        let connector = tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        });
        // The URI is required by the transport but unused: the connector dials the socket.
        let endpoint = Endpoint::from_static("http://localhost");
        let connect = endpoint.connect_with_connector(connector);
        let channel = match tokio::time::timeout(dial.deadline, connect).await {
            Err(_) => {
                return Err(Error::Deadline {
                    plugin: name.to_string(),
                    call: "connect",
                    after: dial.deadline,
                })
            }
            Ok(Err(e)) => {
                return Err(Error::Connect {
                    plugin: name.to_string(),
                    detail: chain(&e),
                })
            }
            Ok(Ok(channel)) => channel,
        };
        let client = ConfigManagementPluginServiceClient::new(channel)
            .max_decoding_message_size(dial.max_message)
            .max_encoding_message_size(dial.max_message);
        Ok(Self {
            name: name.to_string(),
            client,
            dial,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether discovery is configured and whether the plugin wants git credentials.
    pub async fn check_plugin_configuration(
        &self,
    ) -> Result<CheckPluginConfigurationResponse, Error> {
        let mut client = self.client.clone();
        self.call(
            "CheckPluginConfiguration",
            |r| async move { client.check_plugin_configuration(r).await },
            (),
        )
        .await
    }

    /// Whether the plugin's discovery rules match the app in the packed tree.
    pub async fn match_repository(
        &self,
        packed: &Packed,
        env: &[EnvEntry],
    ) -> Result<RepositoryResponse, Error> {
        let mut client = self.client.clone();
        let stream = packed.requests(env, self.dial.chunk_size);
        self.call(
            "MatchRepository",
            |r| async move { client.match_repository(r).await },
            stream,
        )
        .await
    }

    /// The parameters the plugin announces for the app.
    pub async fn get_parameters_announcement(
        &self,
        packed: &Packed,
        env: &[EnvEntry],
    ) -> Result<ParametersAnnouncementResponse, Error> {
        let mut client = self.client.clone();
        let stream = packed.requests(env, self.dial.chunk_size);
        self.call(
            "GetParametersAnnouncement",
            |r| async move { client.get_parameters_announcement(r).await },
            stream,
        )
        .await
    }

    /// The app's manifests, rendered by the plugin.
    pub async fn generate_manifest(
        &self,
        packed: &Packed,
        env: &[EnvEntry],
    ) -> Result<ManifestResponse, Error> {
        let mut client = self.client.clone();
        let stream = packed.requests(env, self.dial.chunk_size);
        self.call(
            "GenerateManifest",
            |r| async move { client.generate_manifest(r).await },
            stream,
        )
        .await
    }

    /// Runs one call with the deadline, sent along as `grpc-timeout`: the sidecar (ours or
    /// upstream's) stops its commands just before it and answers why. A failure once the
    /// deadline has passed is reported as the deadline (the sidecar's transport may cancel
    /// the call a moment before the timer here fires).
    async fn call<M, T, F, Fut>(&self, call: &'static str, send: F, message: M) -> Result<T, Error>
    where
        F: FnOnce(tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = self.dial.deadline;
        let mut request = tonic::Request::new(message);
        request.set_timeout(deadline);
        let start = tokio::time::Instant::now();
        let late = || Error::Deadline {
            plugin: self.name.clone(),
            call,
            after: deadline,
        };
        match tokio::time::timeout(deadline, send(request)).await {
            Err(_) => Err(late()),
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(_)) if start.elapsed() >= deadline => Err(late()),
            Ok(Err(status)) => Err(Error::Plugin {
                plugin: self.name.clone(),
                call,
                code: status.code(),
                message: capped(status.message()),
            }),
        }
    }
}

/// `text` cut to [`MAX_ERROR`] bytes at a character boundary, marked when cut.
fn capped(text: &str) -> String {
    if text.len() <= MAX_ERROR {
        return text.to_string();
    }
    let mut end = MAX_ERROR;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut at {MAX_ERROR} bytes)", &text[..end])
}

/// An error and its sources, `: `-joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_are_capped_on_a_char_boundary() {
        assert_eq!(capped("short"), "short");
        let long = "é".repeat(MAX_ERROR);
        let cut = capped(&long);
        assert!(cut.len() < MAX_ERROR + 40, "{}", cut.len());
        assert!(cut.ends_with(&format!("(cut at {MAX_ERROR} bytes)")));
    }
}
