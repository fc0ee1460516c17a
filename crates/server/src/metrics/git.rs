//! Requests to remote git repositories: upstream's `argocd_git_request_total`,
//! `argocd_git_request_duration_seconds`, `argocd_git_fetch_fail_total` and
//! `argocd_git_lsremote_fail_total`.
//!
//! Upstream labels the failure counters with the revision a request asked for. Here one
//! listing or fetch serves every revision of a repository (refs are listed and fetched per
//! repository, not per revision), so there is no revision to name; and a label taken from the
//! request would let any client mint a new series per made-up revision. The failure counters
//! carry `repo` only.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub repo: String,
    pub request_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RepoLabel {
    pub repo: String,
}

#[derive(Debug)]
pub(crate) struct Git {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
    fetch_fail: Family<RepoLabel, Counter>,
    lsremote_fail: Family<RepoLabel, Counter>,
}

impl Git {
    pub(crate) fn register(registry: &mut Registry, histogram: fn() -> Histogram) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "argocd_git_request",
            "Number of git requests performed by repo server (upstream's name; each attempt counts)",
            requests.clone(),
        );
        let duration = Family::<RequestLabels, Histogram>::new_with_constructor(histogram);
        registry.register(
            "argocd_git_request_duration_seconds",
            "Git requests duration seconds (upstream's name)",
            duration.clone(),
        );
        let fails = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<RepoLabel, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        Self {
            requests,
            duration,
            fetch_fail: fails(
                registry,
                "argocd_git_fetch_fail",
                "Number of git fetch requests failures by repo server (upstream's name; no revision label: a fetch serves every revision)",
            ),
            lsremote_fail: fails(
                registry,
                "argocd_git_lsremote_fail",
                "Number of git ls-remote requests failures by repo server (upstream's name; no revision label: a listing serves every revision)",
            ),
        }
    }

    /// One request to a remote; a failed one also counts in its failure counter.
    pub(crate) fn observe(&self, request: &repo_git::Request<'_>) {
        let labels = RequestLabels {
            repo: request.url.to_string(),
            request_type: request.kind,
        };
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(request.duration.as_secs_f64());
        if !request.ok {
            let failed = match request.kind {
                "fetch" => &self.fetch_fail,
                _ => &self.lsremote_fail,
            };
            failed
                .get_or_create(&RepoLabel {
                    repo: request.url.to_string(),
                })
                .inc();
        }
    }

    /// One series per family, for the metrics reference.
    pub(crate) fn touch(&self) {
        let request = RequestLabels {
            repo: String::new(),
            request_type: "fetch",
        };
        let repo = RepoLabel {
            repo: String::new(),
        };
        let _ = self.requests.get_or_create(&request);
        let _ = self.duration.get_or_create(&request);
        let _ = self.fetch_fail.get_or_create(&repo);
        let _ = self.lsremote_fail.get_or_create(&repo);
    }
}
