//! How Argo CD's components reach the repo-server: the same flags, environment variables and
//! defaults as upstream, TLS by default, a client certificate whenever its files exist (reloaded
//! when they change), and strict server verification when a CA is configured.
#![forbid(unsafe_code)]

mod channel;
mod component;
mod pool;
mod settings;

pub use channel::{connect, connector, open, Error};
pub use component::Component;
pub use pool::Pool;
pub use settings::{Flags, Settings, SettingsError};

pub use repo_proto::repository::repo_server_service_client::RepoServerServiceClient;
pub use repo_proto::version::version_service_client::VersionServiceClient;
