//! Upstream's `argocd_repo_pending_request_total{repo}`: requests that need repository work,
//! while they wait for it or do it. Upstream counts ListRefs, ListOCITags, GetRevisionMetadata,
//! GetGitFiles, GetGitDirectories and ListApps while they run, and a manifest request from its
//! cache miss until it returns (waiting for the `--parallelismlimit` semaphore and the
//! repository lock, then generating). Here the same RPCs count while they run, and a manifest
//! request from its manifest-cache lookup until answered: waiting for a render slot, for an
//! identical render in flight (on this replica or, with Redis locks, another one), then
//! rendering. A cache hit passes through at once (from memory) or after one Redis round trip.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RepoLabel {
    pub repo: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Pending(Family<RepoLabel, Gauge>);

/// One pending request; the gauge goes down when it drops (also when the call is cancelled).
pub(crate) struct Waiting(Gauge);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Pending {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let family = Family::<RepoLabel, Gauge>::default();
        registry.register(
            "argocd_repo_pending_request_total",
            "Number of pending requests requiring repository lock (upstream's name): repository requests in progress, manifest requests from their cache lookup (waiting for a render slot or an identical render, or rendering)",
            family.clone(),
        );
        Self(family)
    }

    /// Counts a request for `repo` (without credentials) until the returned guard drops.
    pub(crate) fn start(&self, repo: &str) -> Waiting {
        let gauge = self
            .0
            .get_or_create(&RepoLabel {
                repo: repo.to_string(),
            })
            .clone();
        gauge.inc();
        Waiting(gauge)
    }

    pub(crate) fn touch(&self) {
        let _ = self.0.get_or_create(&RepoLabel {
            repo: String::new(),
        });
    }
}
