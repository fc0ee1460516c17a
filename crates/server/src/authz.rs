//! Per-RPC authorization by client identity, and the accounting of permissive mode.
//!
//! Health checks always pass. A call from a verified identity is checked against the
//! authorization policy when one is configured. A call without an identity on an mTLS
//! connection exists only in permissive mode: it is served, logged and counted (health
//! checks too). Without mTLS
//! there is no identity to authorize, so a configured policy denies every call.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use repo_identity::{Decision, Policy};
use tower::{Layer, Service};

use crate::conn::Peer;
use crate::metrics::Metrics;

const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";
const POLL: Duration = Duration::from_secs(1);

/// The policy in force, replaced live when its file changes.
#[derive(Clone, Default)]
pub(crate) struct Gate {
    policy: Arc<ArcSwapOption<Policy>>,
}

impl Gate {
    /// Loads the policy (an invalid one stops the server at start).
    pub(crate) fn load(path: Option<&PathBuf>) -> Result<Self, repo_identity::PolicyError> {
        let gate = Self::default();
        if let Some(path) = path {
            let policy = Policy::load(path)?;
            tracing::info!(
                rules = policy.len(),
                "Authorization policy loaded from {}",
                path.display()
            );
            gate.policy.store(Some(Arc::new(policy)));
        }
        Ok(gate)
    }

    /// Re-reads the policy file whenever it changes; an invalid version keeps the old one.
    pub(crate) fn follow(
        &self,
        path: PathBuf,
        metrics: Arc<Metrics>,
    ) -> tokio::task::JoinHandle<()> {
        let policy = self.policy.clone();
        let dirs: Vec<PathBuf> = path.parent().map(|p| p.to_path_buf()).into_iter().collect();
        let mut changes = repo_tls::Changes::new(&dirs, POLL);
        tokio::spawn(async move {
            let mut last = std::fs::read(&path).ok();
            while changes.next().await.is_some() {
                let now = std::fs::read(&path).ok();
                if now == last {
                    continue;
                }
                last = now;
                match Policy::load(&path) {
                    Ok(new) => {
                        tracing::info!(
                            rules = new.len(),
                            "Authorization policy reloaded from {}",
                            path.display()
                        );
                        policy.store(Some(Arc::new(new)));
                        metrics.policy_reloaded(true);
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "Authorization policy update rejected, keeping the previous policy: {err}");
                        metrics.policy_reloaded(false);
                    }
                }
            }
        })
    }
}

#[derive(Clone)]
pub(crate) struct GateLayer {
    pub gate: Gate,
    pub metrics: Arc<Metrics>,
}

impl<S> Layer<S> for GateLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            gate: self.gate.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Guarded<S> {
    inner: S,
    gate: Gate,
    metrics: Arc<Metrics>,
}

/// Why a call is refused, if it is.
fn refusal(gate: &Gate, peer: Option<&Peer>, path: &str, metrics: &Metrics) -> Option<String> {
    // Every anonymous call permissive mode lets through is counted and logged, health checks
    // included: the counter is how operators learn which clients would break under require.
    let anonymous = peer.filter(|p| p.mtls && p.identity.is_none());
    if let Some(peer) = anonymous {
        metrics.unauthenticated(path);
        tracing::warn!(peer.address = %peer.addr, grpc.path = path, "Unauthenticated request served (permissive client auth mode)");
    }
    if anonymous.is_some() || path.starts_with(HEALTH_PREFIX) {
        return None;
    }
    let policy = gate.policy.load();
    match peer.and_then(|p| p.identity.as_ref().map(|id| (p, id))) {
        Some((peer, identity)) => match policy.as_deref().map(|p| p.decide(identity, path)) {
            None | Some(Decision::Allowed { .. }) => None,
            Some(Decision::Denied) => {
                metrics.denied(path);
                tracing::warn!(
                    peer.address = %peer.addr,
                    peer.identity = %identity,
                    grpc.path = path,
                    "Permission denied: no authorization rule allows {} to call {path}",
                    identity.name()
                );
                Some(format!("{} is not allowed to call {path}", identity.name()))
            }
        },
        None if policy.is_some() => {
            metrics.denied(path);
            Some(format!(
                "{path} requires a client identity: an authorization policy is set but the connection has no client certificate"
            ))
        }
        None => None,
    }
}

impl<S, B, R> Service<http::Request<B>> for Guarded<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let peer = req.extensions().get::<Arc<Peer>>().cloned();
        if let Some(message) = refusal(&self.gate, peer.as_deref(), req.uri().path(), &self.metrics)
        {
            let response = tonic::Status::permission_denied(message).into_http::<R>();
            return Box::pin(async move { Ok(response) });
        }
        // The clone that was driven to readiness serves this call (tower's rule).
        let mut inner = self.inner.clone();
        std::mem::swap(&mut self.inner, &mut inner);
        Box::pin(inner.call(req))
    }
}
