use std::path::PathBuf;
use std::time::Duration;

use crate::Observer;

/// Upstream's `ARGOCD_EXEC_TIMEOUT`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);
/// Upstream's `--revision-cache-expiration`.
pub const DEFAULT_REF_CACHE_TTL: Duration = Duration::from_secs(180);

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
    /// Limit for each git command; on expiry its whole process group is killed.
    pub timeout: Duration,
    /// How long a ref listing is reused for the same normalized URL.
    pub ref_cache_ttl: Duration,
    /// Told about every request to a remote (metrics).
    pub observer: Option<Observer>,
}

impl Settings {
    /// Upstream-like defaults and no size budget.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            budget_bytes: u64::MAX,
            allow_file: false,
            timeout: DEFAULT_TIMEOUT,
            ref_cache_ttl: DEFAULT_REF_CACHE_TTL,
            observer: None,
        }
    }
}
