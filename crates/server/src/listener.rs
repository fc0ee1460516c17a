//! The gRPC port's accept loop: TLS handshakes run concurrently (bounded), each refusal is
//! logged with the peer and a reason and counted; accepted connections go to the gRPC server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use repo_identity::Identity;
use repo_tls::acceptor::Acceptor;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use crate::conn::{Conn, Peer};
use crate::metrics::Metrics;

/// Handshakes in flight at once; more connections wait in the kernel backlog.
const MAX_HANDSHAKES: usize = 1024;

/// `lifetime` is the hard end of a connection's life (maximum age plus grace), if any.
pub fn spawn(
    listener: TcpListener,
    acceptor: Option<Arc<Acceptor>>,
    metrics: Arc<Metrics>,
    lifetime: Option<Duration>,
) -> mpsc::Receiver<Result<Conn, std::io::Error>> {
    let (tx, rx) = mpsc::channel(128);
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let (tcp, addr) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let Some(acceptor) = acceptor.clone() else {
                if tx.send(Ok(Conn::plain(tcp, addr, lifetime))).await.is_err() {
                    return;
                }
                continue;
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (tx, metrics) = (tx.clone(), metrics.clone());
            tokio::spawn(async move {
                if let Some(conn) = handshake(&acceptor, tcp, addr, &metrics, lifetime).await {
                    let _ = tx.send(Ok(conn)).await;
                }
                drop(permit);
            });
        }
    });
    rx
}

async fn handshake(
    acceptor: &Acceptor,
    tcp: TcpStream,
    addr: SocketAddr,
    metrics: &Metrics,
    lifetime: Option<Duration>,
) -> Option<Conn> {
    match acceptor.accept(tcp, &addr).await {
        Ok((stream, mtls)) => {
            metrics.handshakes.inc();
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|leaf| Identity::from_der(leaf));
            if let Some(id) = &identity {
                metrics
                    .expiry
                    .client(id.name(), id.not_before, id.not_after);
            }
            let peer = Peer {
                addr,
                identity,
                mtls,
            };
            tracing::debug!(peer = %addr, identity = %peer.identity_text(), "Accepted TLS connection");
            Some(Conn::tls(stream, peer, lifetime))
        }
        Err(failure) => {
            metrics.rejected(failure.reason);
            tracing::warn!(
                peer = %addr,
                reason = failure.reason.label(),
                error = %failure.detail,
                "TLS handshake rejected: {}",
                failure.reason.describe()
            );
            None
        }
    }
}
