//! Prometheus metrics of the server.

mod fetch;
mod git;
mod pending;
mod process;
mod redis;
mod usage;

pub(crate) use fetch::OciFailure;
pub(crate) use pending::Pending;
pub(crate) use redis::Redis;
pub(crate) use usage::{Caller, Usage};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::expiry::Expiry;
use crate::listener::Shed;
use prometheus_client::registry::Registry;
use repo_tls::Reason;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReloadLabels {
    pub part: &'static str,
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PathLabel {
    pub grpc_path: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    pub grpc_service: String,
    pub grpc_method: String,
    pub grpc_type: &'static str,
    pub grpc_code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub identity: String,
    pub grpc_method: String,
    pub grpc_code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TimeLabels {
    pub grpc_service: String,
    pub grpc_method: String,
    pub grpc_type: &'static str,
}

/// 1 ms to about 4 minutes.
fn handling_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 14))
}

/// Every metric, plus the registry that renders them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub handshakes: Counter,
    pub handshake_failures: Family<ReasonLabel, Counter>,
    pub calls: Family<CallLabels, Counter>,
    pub reloads: Family<ReloadLabels, Counter>,
    pub expiry: Expiry,
    pub git: git::Git,
    pub pending: Pending,
    pub redis: Redis,
    pub requests: Family<RequestLabels, Counter>,
    pub handling: Family<TimeLabels, Histogram>,
    pub unauthenticated: Family<PathLabel, Counter>,
    pub denied: Family<PathLabel, Counter>,
    pub policy_reloads: Family<ResultLabel, Counter>,
    pub fetches: fetch::Fetches,
    pub usage: std::sync::Arc<Usage>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let handshakes = Counter::default();
        registry.register(
            "argocd_repo_server_tls_handshakes",
            "TLS handshakes completed on the gRPC port",
            handshakes.clone(),
        );
        let handshake_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "argocd_repo_server_tls_handshake_failures",
            "TLS handshakes refused or failed on the gRPC port, by reason",
            handshake_failures.clone(),
        );
        // Zero series for every reason, so alerts can use rate() from the first scrape.
        let labels = Reason::ALL.map(Reason::label);
        for reason in labels.into_iter().chain(Shed::ALL.map(Shed::label)) {
            let _ = handshake_failures.get_or_create(&ReasonLabel { reason });
        }
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "grpc_server_handled",
            "gRPC calls completed, by method and code",
            calls.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "argocd_repo_server_tls_reloads",
            "Changes of the TLS files applied (ok) or rejected and kept-old (error), by part: serving (tls.crt/tls.key), client_ca, client_crl; each part reloads on its own",
            reloads.clone(),
        );
        for part in repo_tls::Part::ALL {
            for result in ["ok", "error"] {
                let _ = reloads.get_or_create(&ReloadLabels {
                    part: part.label(),
                    result,
                });
            }
        }
        let expiry = Expiry::register(&mut registry);
        let git = git::Git::register(&mut registry, handling_histogram);
        let pending = Pending::register(&mut registry);
        let redis = Redis::register(&mut registry);
        registry.register_collector(Box::new(process::ProcessCollector));
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "argocd_repo_server_requests",
            "Completed calls by client identity, method and code",
            requests.clone(),
        );
        let handling = Family::<TimeLabels, Histogram>::new_with_constructor(
            handling_histogram as fn() -> Histogram,
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Time to answer a call, by method",
            handling.clone(),
        );
        let unauthenticated = Family::<PathLabel, Counter>::default();
        registry.register(
            "argocd_repo_server_unauthenticated_requests",
            "Calls served without a client certificate in permissive client auth mode",
            unauthenticated.clone(),
        );
        let denied = Family::<PathLabel, Counter>::default();
        registry.register(
            "argocd_repo_server_permission_denied",
            "Calls refused by the authorization policy",
            denied.clone(),
        );
        let policy_reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "argocd_repo_server_authorization_policy_reloads",
            "Changes of the authorization policy applied (ok) or rejected (error)",
            policy_reloads.clone(),
        );
        let fetches = fetch::Fetches::register(&mut registry, handling_histogram);
        let usage = Usage::register(&mut registry);
        Self {
            registry,
            usage,
            fetches,
            unauthenticated,
            denied,
            policy_reloads,
            handshakes,
            handshake_failures,
            calls,
            reloads,
            expiry,
            git,
            pending,
            redis,
            requests,
            handling,
        }
    }

    pub(crate) fn rejected(&self, reason: Reason) {
        self.handshake_failures
            .get_or_create(&ReasonLabel {
                reason: reason.label(),
            })
            .inc();
    }

    /// A connection dropped by the listener before its handshake finished.
    pub(crate) fn shed(&self, shed: Shed) {
        self.handshake_failures
            .get_or_create(&ReasonLabel {
                reason: shed.label(),
            })
            .inc();
    }

    pub(crate) fn reloaded(&self, part: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&ReloadLabels { part, result })
            .inc();
    }

    pub(crate) fn unauthenticated(&self, path: &str) {
        self.unauthenticated
            .get_or_create(&PathLabel {
                grpc_path: path.to_string(),
            })
            .inc();
    }

    pub(crate) fn denied(&self, path: &str) {
        self.denied
            .get_or_create(&PathLabel {
                grpc_path: path.to_string(),
            })
            .inc();
    }

    pub(crate) fn policy_reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.policy_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Records one request to a remote repository.
    pub(crate) fn git(&self, request: &repo_git::Request<'_>) {
        self.git.observe(request);
    }

    /// Creates one series in every family, so that an exposition lists every metric (an empty
    /// family is not printed); used to generate the metrics reference.
    pub(crate) fn touch_all(&self) {
        let call = CallLabels {
            grpc_service: String::new(),
            grpc_method: String::new(),
            grpc_type: "unary",
            grpc_code: String::new(),
        };
        let _ = self.calls.get_or_create(&call);
        let _ = self.requests.get_or_create(&RequestLabels {
            identity: String::new(),
            grpc_method: String::new(),
            grpc_code: String::new(),
        });
        let _ = self.handling.get_or_create(&TimeLabels {
            grpc_service: String::new(),
            grpc_method: String::new(),
            grpc_type: "unary",
        });
        let path = PathLabel {
            grpc_path: String::new(),
        };
        let _ = self.unauthenticated.get_or_create(&path);
        let _ = self.denied.get_or_create(&path);
        let _ = self
            .policy_reloads
            .get_or_create(&ResultLabel { result: "ok" });
        self.expiry.touch();
        self.git.touch();
        self.pending.touch();
        self.redis.touch();
        self.fetches.touch();
    }

    /// Records one request to a Helm repository or OCI registry.
    pub(crate) fn fetch(&self, event: &repo_fetch::Event) {
        self.fetches.observe(event);
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
