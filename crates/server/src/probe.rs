//! The liveness probe's self-check: dial our own gRPC port the way a client would (over TLS,
//! presenting the ephemeral health identity under mTLS) and ask Health/Check.
//!
//! The metrics port is unauthenticated, so a check is shared: concurrent probes wait for the
//! one in flight, and its result answers every probe for a second after it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use repo_tls::{Connector, HealthIdentity, ServerTrust, StaticIdentity};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a result answers further probes (kubelet probes every 10 s by default).
const FRESH: Duration = Duration::from_secs(1);

type Outcome = Result<(), String>;

#[derive(Clone)]
pub(crate) struct Probe {
    address: String,
    connector: Option<Connector>,
    /// The last result and when it was obtained; held while a check runs.
    last: Arc<tokio::sync::Mutex<Option<(Instant, Outcome)>>>,
}

impl Probe {
    /// `grpc` is the bound gRPC address (a wildcard bind is dialled on loopback); `health` is
    /// present when TLS is on and is presented whenever the server asks for a certificate.
    pub(crate) fn new(
        grpc: SocketAddr,
        health: Option<&HealthIdentity>,
        mtls: bool,
    ) -> Result<Self, repo_tls::Error> {
        let ip = match grpc.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        if !ip.is_loopback() && mtls {
            tracing::warn!(
                "--address {ip} is not loopback: the liveness self-check cannot use its health identity there (it is accepted from loopback only); bind 0.0.0.0 or a loopback address"
            );
        }
        let connector = health
            .map(|h| {
                Connector::new(
                    &ServerTrust::Insecure,
                    Some(Arc::new(StaticIdentity(h.certified()))),
                )
            })
            .transpose()?;
        Ok(Self {
            address: SocketAddr::new(ip, grpc.port()).to_string(),
            connector,
            last: Arc::default(),
        })
    }

    /// The result of a check that finished less than a second ago, or of a new one.
    pub(crate) async fn check(&self) -> Outcome {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < FRESH {
                return outcome.clone();
            }
        }
        let outcome = self.dial().await;
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }

    async fn dial(&self) -> Outcome {
        let channel = repo_client::open(&self.address, self.connector.clone(), Some(TIMEOUT))
            .await
            .map_err(|e| e.to_string())?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|s| format!("health check failed: {}: {}", s.code(), s.message()))?;
        match response.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(format!("repo-server is {}", other.as_str_name())),
        }
    }
}
