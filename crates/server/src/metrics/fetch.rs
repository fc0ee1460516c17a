//! Metrics of Helm repositories and OCI registries: upstream's `argocd_oci_*` families, and
//! the same pair for Helm repositories (ours; upstream has none).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

// The same labels as git's requests.
use super::git::{RepoLabel, RequestLabels};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RevisionLabels {
    pub repo: String,
    pub revision: String,
}

/// An OCI operation that failed, as upstream counts them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OciFailure {
    /// Pulling or unpacking an artifact.
    Extract,
    /// A tag or constraint that did not resolve to a digest.
    Resolve,
    /// GetOCIMetadata.
    Metadata,
}

#[derive(Debug)]
pub(crate) struct Fetches {
    oci_requests: Family<RequestLabels, Counter>,
    oci_duration: Family<RequestLabels, Histogram>,
    helm_requests: Family<RequestLabels, Counter>,
    helm_duration: Family<RequestLabels, Histogram>,
    extract_fail: Family<RevisionLabels, Counter>,
    resolve_fail: Family<RevisionLabels, Counter>,
    metadata_fail: Family<RevisionLabels, Counter>,
    tags_fail: Family<RepoLabel, Counter>,
    test_fail: Family<RepoLabel, Counter>,
    /// Revision labels in use: clients name revisions, so their number is capped.
    revisions: parking_lot::Mutex<std::collections::HashSet<String>>,
}

/// Distinct revisions the OCI failure counters name; failures of any further one count as
/// `other`, so a client sending made-up revisions cannot grow the exposition without bound.
const MAX_REVISIONS: usize = 100;

impl Fetches {
    pub(crate) fn register(registry: &mut Registry, histogram: fn() -> Histogram) -> Self {
        let requests = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<RequestLabels, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let durations = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<RequestLabels, Histogram>::new_with_constructor(histogram);
            registry.register(name, help, family.clone());
            family
        };
        let revisions = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<RevisionLabels, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let repos = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<RepoLabel, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        Self {
            oci_requests: requests(
                registry,
                "argocd_oci_request",
                "Requests to OCI registries, by repository and type (upstream's name)",
            ),
            oci_duration: durations(
                registry,
                "argocd_oci_request_duration_seconds",
                "Duration of requests to OCI registries (upstream's name)",
            ),
            helm_requests: requests(
                registry,
                "argocd_helm_request",
                "Requests to Helm repositories (index, chart pulls), by repository and type",
            ),
            helm_duration: durations(
                registry,
                "argocd_helm_request_duration_seconds",
                "Duration of requests to Helm repositories",
            ),
            extract_fail: revisions(
                registry,
                "argocd_oci_extract_fail",
                "OCI artifacts that could not be pulled or unpacked (upstream's name)",
            ),
            resolve_fail: revisions(
                registry,
                "argocd_oci_resolve_revision_fail",
                "OCI revisions that did not resolve to a digest (upstream's name)",
            ),
            metadata_fail: revisions(
                registry,
                "argocd_oci_digest_metadata_fail",
                "GetOCIMetadata failures (upstream's name)",
            ),
            tags_fail: repos(
                registry,
                "argocd_oci_get_tags_fail",
                "OCI tag listings that failed (upstream's name)",
            ),
            test_fail: repos(
                registry,
                "argocd_oci_test_repo_fail",
                "OCI repository tests that failed (upstream's name)",
            ),
            revisions: Default::default(),
        }
    }

    /// One request to a Helm repository or OCI registry; a failed tag listing or test also
    /// counts in upstream's failure counters.
    pub(crate) fn observe(&self, event: &repo_fetch::Event) {
        let labels = RequestLabels {
            repo: event.repo.clone(),
            request_type: event.op,
        };
        let (requests, duration) = match event.kind {
            "oci" => (&self.oci_requests, &self.oci_duration),
            _ => (&self.helm_requests, &self.helm_duration),
        };
        requests.get_or_create(&labels).inc();
        duration
            .get_or_create(&labels)
            .observe(event.elapsed.as_secs_f64());
        if event.kind == "oci" && !event.ok {
            let repo = RepoLabel {
                repo: event.repo.clone(),
            };
            match event.op {
                "tags" => self.tags_fail.get_or_create(&repo).inc(),
                "test" => self.test_fail.get_or_create(&repo).inc(),
                _ => 0,
            };
        }
    }

    pub(crate) fn oci_failed(&self, failure: OciFailure, repo: &str, revision: &str) {
        let family = match failure {
            OciFailure::Extract => &self.extract_fail,
            OciFailure::Resolve => &self.resolve_fail,
            OciFailure::Metadata => &self.metadata_fail,
        };
        let revision = {
            let mut seen = self.revisions.lock();
            if seen.contains(revision) || seen.len() < MAX_REVISIONS {
                seen.insert(revision.to_string());
                revision
            } else {
                "other"
            }
        };
        family
            .get_or_create(&RevisionLabels {
                repo: repo.to_string(),
                revision: revision.to_string(),
            })
            .inc();
    }

    /// One series per family, for the metrics reference.
    pub(crate) fn touch(&self) {
        let request = RequestLabels {
            repo: String::new(),
            request_type: "pull",
        };
        let (repo, revision) = (
            RepoLabel {
                repo: String::new(),
            },
            RevisionLabels {
                repo: String::new(),
                revision: String::new(),
            },
        );
        let _ = self.oci_requests.get_or_create(&request);
        let _ = self.oci_duration.get_or_create(&request);
        let _ = self.helm_requests.get_or_create(&request);
        let _ = self.helm_duration.get_or_create(&request);
        let _ = self.extract_fail.get_or_create(&revision);
        let _ = self.resolve_fail.get_or_create(&revision);
        let _ = self.metadata_fail.get_or_create(&revision);
        let _ = self.tags_fail.get_or_create(&repo);
        let _ = self.test_fail.get_or_create(&repo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_revisions_do_not_grow_the_exposition() {
        let mut registry = Registry::default();
        let fetches = Fetches::register(&mut registry, || Histogram::new([1.0]));
        for n in 0..1000 {
            fetches.oci_failed(OciFailure::Resolve, "oci://r/c", &format!("v{n}"));
        }
        fetches.oci_failed(OciFailure::Extract, "oci://r/c", "v1");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
        assert_eq!(
            series("argocd_oci_resolve_revision_fail_total{"),
            MAX_REVISIONS + 1
        );
        assert!(text.contains(
            r#"argocd_oci_resolve_revision_fail_total{repo="oci://r/c",revision="other"} 900"#
        ));
        // A revision already named keeps its own series in every family.
        assert!(text.contains(r#"argocd_oci_extract_fail_total{repo="oci://r/c",revision="v1"} 1"#));
    }
}
