//! How the fetcher reaches servers and where it keeps what it fetched.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use repo_source::Proxies;

/// The fetcher's settings; the server fills them from its flags (names in the docs).
#[derive(Clone)]
pub struct Settings {
    /// Root of the content-addressed archive store (`<repo cache dir>/charts`).
    pub dir: PathBuf,
    /// Disk budget of the store; the least recently used archives go first.
    pub budget_bytes: u64,
    /// How long a Helm repository's index is reused (upstream: `--revision-cache-expiration`).
    pub index_ttl: Duration,
    /// `--helm-registry-max-index-size`: the largest `index.yaml` read.
    pub max_index_bytes: u64,
    /// The largest archive (chart or OCI layer) downloaded.
    pub max_archive_bytes: u64,
    /// `ARGOCD_TLS_DATA_PATH`: one PEM file of extra CAs per server host name.
    pub tls_data_path: PathBuf,
    /// `--oci-layer-media-types`: the layer media types a native OCI source may hold.
    pub oci_media_types: Vec<String>,
    /// Bound on connecting to a server and on each wait for its bytes.
    pub timeout: Duration,
    /// The pod's proxy variables, read once by the server at startup (never here).
    pub proxies: Proxies,
    /// `ARGOCD_HELM_USER_AGENT`: `User-Agent` of Helm repository requests; `None` is
    /// `argocd-repo-server/<version>`.
    pub user_agent: Option<String>,
    pub observer: Option<Observer>,
}

/// One request to a Helm repository or OCI registry, for metrics.
#[derive(Clone, Debug)]
pub struct Event {
    /// `helm` or `oci`.
    pub kind: &'static str,
    /// `index`, `pull`, `tags`, `resolve`, `manifest`, `test`.
    pub op: &'static str,
    /// The repository URL without userinfo.
    pub repo: String,
    pub ok: bool,
    pub elapsed: Duration,
}

/// Receives every [`Event`].
#[derive(Clone)]
pub struct Observer(Arc<dyn Fn(&Event) + Send + Sync>);

impl Observer {
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub(crate) fn observe(&self, event: &Event) {
        (self.0)(event);
    }
}
