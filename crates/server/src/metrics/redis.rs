//! Upstream's Redis metrics, `argocd_redis_request_total{initiator,command,failed}` and
//! `argocd_redis_request_duration_seconds{initiator}`, fed by the shared cache's client for
//! every command it sends. A miss (no such key) is not a failure, as upstream counts it.
//! Ours: `argocd_repo_server_cache_corrupt_total`, reads of damaged manifest entries.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upstream's initiator label of the repo-server.
const INITIATOR: &str = "argocd-repo-server";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub initiator: &'static str,
    pub command: &'static str,
    pub failed: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct InitiatorLabel {
    pub initiator: &'static str,
}

/// Upstream's buckets (0.1 s to 2 s) with finer ones below: a Redis command on a healthy
/// network takes well under a millisecond.
fn buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
    ])
}

#[derive(Debug, Clone)]
pub(crate) struct Redis {
    requests: Family<RequestLabels, Counter>,
    duration: Family<InitiatorLabel, Histogram>,
    /// Reads of damaged manifest entries from Redis (ours; upstream has none).
    pub(crate) corrupt: Counter,
}

impl Redis {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "argocd_redis_request",
            "Number of redis requests executed by the repo server, by command and whether it failed (upstream's name)",
            requests.clone(),
        );
        let duration =
            Family::<InitiatorLabel, Histogram>::new_with_constructor(buckets as fn() -> Histogram);
        registry.register(
            "argocd_redis_request_duration_seconds",
            "Redis requests duration seconds (upstream's name)",
            duration.clone(),
        );
        let corrupt = Counter::default();
        registry.register(
            "argocd_repo_server_cache_corrupt",
            "Reads of manifest cache entries from Redis that found them damaged (bad gzip, JSON or hash); each is a miss, and the manifests are rendered again",
            corrupt.clone(),
        );
        Self {
            requests,
            duration,
            corrupt,
        }
    }

    pub(crate) fn touch(&self) {
        let _ = self.requests.get_or_create(&RequestLabels {
            initiator: INITIATOR,
            command: "get",
            failed: "false",
        });
        let _ = self.duration.get_or_create(&InitiatorLabel {
            initiator: INITIATOR,
        });
    }
}

/// Passed to the shared cache's client (`repo_redis::Redis::new`).
impl repo_redis::Observer for Redis {
    /// One command sent to Redis: `command` in lower case (`get`, `set`, `rename` ...), how
    /// long it took, and whether it failed (a miss is no failure).
    fn request(&self, command: &'static str, took: Duration, failed: bool) {
        let failed = if failed { "true" } else { "false" };
        self.requests
            .get_or_create(&RequestLabels {
                initiator: INITIATOR,
                command,
                failed,
            })
            .inc();
        self.duration
            .get_or_create(&InitiatorLabel {
                initiator: INITIATOR,
            })
            .observe(took.as_secs_f64());
    }
}
