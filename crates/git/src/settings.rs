use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{Observer, Proxies, SharedRefs};

/// Upstream's `ARGOCD_EXEC_TIMEOUT`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);
/// Upstream's `DefaultPathTLSConfig`, where `argocd-tls-certs-cm` is mounted.
pub const DEFAULT_TLS_DATA_PATH: &str = "/app/config/tls";
/// Upstream's `ssh_known_hosts` in `DefaultPathSSHConfig` (`argocd-ssh-known-hosts-cm`).
pub const DEFAULT_KNOWN_HOSTS: &str = "/app/config/ssh/ssh_known_hosts";
/// Upstream's `--revision-cache-expiration`.
pub const DEFAULT_REF_CACHE_TTL: Duration = Duration::from_secs(180);
/// Upstream's `--revision-cache-lock-timeout`.
pub const DEFAULT_REF_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Upstream's `ARGOCD_GITHUB_APP_CREDS_EXPIRATION_DURATION` default (60 minutes).
pub const DEFAULT_GITHUB_APP_CREDS_EXPIRATION: Duration = Duration::from_secs(3600);

/// How a [`Cache`](crate::Cache) is laid out and bounded.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Root of the cache; one [`Cache`](crate::Cache) per directory (enforced with a lock).
    pub dir: PathBuf,
    /// Bytes on disk that snapshots not in use may occupy before the least recently used are
    /// removed. Snapshots in use and the mirrors are never evicted.
    pub budget_bytes: u64,
    /// Allow `file://` URLs and local paths (tests, air-gapped setups).
    pub allow_file: bool,
    /// Fill submodules into snapshots at the commits the superproject records, recursively
    /// (upstream's `ARGOCD_GIT_MODULES_ENABLED` / `reposerver.enable.git.submodule`, on by
    /// default). Off: they stay empty directories.
    pub submodules: bool,
    /// Limit for each git command; on expiry its whole process group is killed.
    pub timeout: Duration,
    /// How long a ref listing is reused for the same normalized URL.
    pub ref_cache_ttl: Duration,
    /// Limit for one ref listing (upstream's `ARGOCD_GIT_REQUEST_TIMEOUT`).
    pub list_timeout: Duration,
    /// How a failed ref listing is retried (upstream's `ARGOCD_GIT_ATTEMPTS_COUNT` and
    /// `ARGOCD_GIT_RETRY_*`).
    pub retry: Retry,
    /// Ref listings running at once; 0 for no limit (`ARGOCD_GIT_LS_REMOTE_PARALLELISM_LIMIT`).
    pub list_parallelism: usize,
    /// Told about every request to a remote (metrics).
    pub observer: Option<Observer>,
    /// Ref listings shared with other replicas, for repositories without credentials only
    /// (those with credentials are listed by each replica, which proves them); `None`: this
    /// replica's own listings only.
    pub shared_refs: Option<Arc<dyn SharedRefs>>,
    /// How long a replica waits for another one's shared listing before listing itself, and
    /// how long its listing lock lives; zero: no waiting (upstream's
    /// `--revision-cache-lock-timeout`).
    pub ref_lock_timeout: Duration,
    /// `ARGOCD_TLS_DATA_PATH`: `<dir>/<host>` is a PEM file of extra CAs for git over HTTPS to
    /// that host, added to the system roots; re-read when it changes.
    pub tls_data_path: PathBuf,
    /// The `ssh_known_hosts` file (`SSH_KNOWN_HOSTS`, or `ARGOCD_SSH_DATA_PATH/ssh_known_hosts`)
    /// for repositories without known hosts of their own; ssh reads it on every connection.
    /// Empty: no host is known.
    pub known_hosts: PathBuf,
    /// The pod's proxies, read by the server (never by this crate) from its environment.
    pub proxies: Proxies,
    /// Longest use of a GitHub App installation token (upstream's
    /// `ARGOCD_GITHUB_APP_CREDS_EXPIRATION_DURATION`); it is renewed earlier, a minute before
    /// GitHub's expiry.
    pub github_app_creds_expiration: Duration,
}

impl Settings {
    /// Upstream-like defaults and no size budget.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            budget_bytes: u64::MAX,
            allow_file: false,
            submodules: true,
            timeout: DEFAULT_TIMEOUT,
            ref_cache_ttl: DEFAULT_REF_CACHE_TTL,
            list_timeout: Duration::from_secs(15),
            retry: Retry::default(),
            list_parallelism: 0,
            observer: None,
            shared_refs: None,
            ref_lock_timeout: DEFAULT_REF_LOCK_TIMEOUT,
            tls_data_path: PathBuf::from(DEFAULT_TLS_DATA_PATH),
            known_hosts: PathBuf::from(DEFAULT_KNOWN_HOSTS),
            proxies: Proxies::default(),
            github_app_creds_expiration: DEFAULT_GITHUB_APP_CREDS_EXPIRATION,
        }
    }
}

/// Retries of a ref listing the server could not answer: `attempts` tries in all, waiting
/// `wait × factor^n` (at most `max_wait`) before try `n + 2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub wait: Duration,
    pub max_wait: Duration,
    pub factor: u32,
}

impl Default for Retry {
    /// Upstream's defaults: one try.
    fn default() -> Self {
        Self {
            attempts: 1,
            wait: Duration::from_millis(250),
            max_wait: Duration::from_secs(5),
            factor: 2,
        }
    }
}

impl Retry {
    /// The wait before retry number `n` (0 for the first retry).
    pub(crate) fn wait(&self, n: u32) -> Duration {
        let factor = self.factor.checked_pow(n).unwrap_or(u32::MAX);
        self.wait.saturating_mul(factor).min(self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_the_factor_up_to_the_maximum() {
        let retry = Retry {
            attempts: 5,
            ..Retry::default()
        };
        let waits: Vec<u64> = (0..5).map(|n| retry.wait(n).as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000]);
        assert_eq!(retry.wait(30), Duration::from_secs(5));
    }
}
