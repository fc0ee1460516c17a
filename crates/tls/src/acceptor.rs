//! Server side of the handshake. The configuration is read afresh for every connection, so a
//! new certificate set can be published while the server runs; loopback connections get a
//! configuration that also accepts the pinned health-probe identity.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::serving::Fixed;
use crate::verify::ClientVerifier;
use crate::{Bundle, Error, HealthIdentity, Policy, Reason, ServingCert};

/// The configurations in force at one time.
#[derive(Debug)]
pub struct Configs {
    external: Arc<ServerConfig>,
    loopback: Arc<ServerConfig>,
    mtls: bool,
}

impl Configs {
    /// Builds the configurations. With a bundle, client certificates are required; the
    /// health identity (if any) is accepted on loopback connections only.
    pub fn build(
        serving: &ServingCert,
        bundle: Option<&Bundle>,
        health: Option<&HealthIdentity>,
        policy: &Policy,
    ) -> Result<Self, Error> {
        let external = server_config(
            serving,
            bundle.map(ClientVerifier::new).transpose()?,
            policy,
        )?;
        let loopback = match (bundle, health) {
            (Some(bundle), Some(health)) => server_config(
                serving,
                Some(ClientVerifier::build(bundle, Some(health.pin()?))?),
                policy,
            )?,
            _ => external.clone(),
        };
        Ok(Self {
            external,
            loopback,
            mtls: bundle.is_some(),
        })
    }

    /// Whether client certificates are required.
    pub fn mtls(&self) -> bool {
        self.mtls
    }

    fn for_peer(&self, peer: &SocketAddr) -> Arc<ServerConfig> {
        if peer.ip().is_loopback() {
            self.loopback.clone()
        } else {
            self.external.clone()
        }
    }
}

fn server_config(
    serving: &ServingCert,
    verifier: Option<ClientVerifier>,
    policy: &Policy,
) -> Result<Arc<ServerConfig>, Error> {
    let builder = ServerConfig::builder_with_provider(policy.provider())
        .with_protocol_versions(policy.versions())?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(Arc::new(v)),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(Fixed(serving.certified())));
    // grpc-go >= 1.67 refuses TLS servers that do not select h2.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A refused or failed handshake.
#[derive(Debug)]
pub struct Failure {
    pub reason: Reason,
    pub detail: String,
}

/// Accepts TLS connections with the configuration current at accept time.
#[derive(Debug)]
pub struct Acceptor {
    current: ArcSwap<Configs>,
    timeout: Duration,
}

impl Acceptor {
    pub fn new(configs: Configs, timeout: Duration) -> Self {
        Self {
            current: ArcSwap::from_pointee(configs),
            timeout,
        }
    }

    /// Publishes new configurations; connections accepted from now on use them.
    pub fn store(&self, configs: Configs) {
        self.current.store(Arc::new(configs));
    }

    /// The configurations in force.
    pub fn current(&self) -> Arc<Configs> {
        self.current.load_full()
    }

    pub async fn accept(
        &self,
        tcp: TcpStream,
        peer: &SocketAddr,
    ) -> Result<TlsStream<TcpStream>, Failure> {
        let config = self.current.load().for_peer(peer);
        let handshake = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
        match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(err)) => Err(Failure {
                reason: Reason::of_io(&err),
                detail: err.to_string(),
            }),
            Err(_) => Err(Failure {
                reason: Reason::Timeout,
                detail: format!("no handshake within {:?}", self.timeout),
            }),
        }
    }
}
