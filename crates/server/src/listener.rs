//! The gRPC port's accept loop: TLS handshakes run concurrently, bounded in number (see
//! [`slots`]) and in time (the acceptor's handshake timeout); each refusal is counted, and
//! logged with the peer and a reason (see [`throttle`]); accepted connections go to the gRPC
//! server.

mod slots;
mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use repo_identity::Identity;
use repo_tls::acceptor::{Acceptor, Failure};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::conn::{Conn, Peer};
use crate::metrics::Metrics;
pub(crate) use slots::Shed;
use slots::{Net, Slots};
use throttle::Throttle;

/// What the handshake tasks share.
struct Shared {
    acceptor: Arc<Acceptor>,
    metrics: Arc<Metrics>,
    throttle: Throttle,
    lifetime: Option<Duration>,
}

impl Shared {
    /// Logs a refusal, unless this peer has had its share of lines for this reason lately.
    fn log(&self, addr: SocketAddr, reason: &'static str, describe: &'static str, detail: &str) {
        if self
            .throttle
            .admit(Net::of(addr.ip()), reason, describe, Instant::now())
        {
            tracing::warn!(peer = %addr, reason, error = detail, "TLS handshake rejected: {describe}");
        }
    }

    fn summarize(&self) {
        for s in self.throttle.drain(Instant::now()) {
            let peer = s
                .net
                .map_or("other peers".to_string(), |net| net.to_string());
            tracing::warn!(
                peer,
                reason = s.reason,
                suppressed = s.suppressed,
                "TLS handshake rejected {} more times in the last {}s, not logged one by one: {}",
                s.suppressed,
                throttle::PERIOD.as_secs(),
                s.describe
            );
        }
    }
}

/// `lifetime` is the hard end of a connection's life (maximum age plus grace), if any.
pub(crate) fn spawn(
    listener: TcpListener,
    acceptor: Option<Arc<Acceptor>>,
    metrics: Arc<Metrics>,
    lifetime: Option<Duration>,
) -> mpsc::Receiver<Result<Conn, std::io::Error>> {
    let (tx, rx) = mpsc::channel(128);
    tokio::spawn(async move {
        let shared = acceptor.map(|acceptor| {
            Arc::new(Shared {
                acceptor,
                metrics,
                throttle: Throttle::default(),
                lifetime,
            })
        });
        let slots = Slots::new(slots::TOTAL, slots::PER_PEER);
        let mut summaries = tokio::time::interval(throttle::TICK);
        loop {
            let (tcp, addr) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = summaries.tick() => {
                    if let Some(shared) = &shared {
                        shared.summarize();
                    }
                    continue;
                }
                () = tx.closed() => return,
            };
            let _ = tcp.set_nodelay(true);
            let Some(shared) = shared.clone() else {
                if tx.send(Ok(Conn::plain(tcp, addr, lifetime))).await.is_err() {
                    return;
                }
                continue;
            };
            let Some((slot, evicted)) = slots.admit(addr.ip()) else {
                shared.metrics.shed(Shed::PeerLimit);
                let detail = format!("{} handshakes in flight from this peer", slots::PER_PEER);
                let shed = Shed::PeerLimit;
                shared.log(addr, shed.label(), shed.describe(), &detail);
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let outcome = tokio::select! {
                    outcome = handshake(&shared, tcp, addr) => outcome,
                    _ = evicted => {
                        let shed = Shed::Evicted;
                        shared.metrics.shed(shed);
                        let detail = format!("{} handshakes in flight", slots::TOTAL);
                        shared.log(addr, shed.label(), shed.describe(), &detail);
                        return;
                    }
                };
                drop(slot);
                match outcome {
                    Ok(conn) => {
                        let _ = tx.send(Ok(conn)).await;
                    }
                    Err(failure) => {
                        shared.metrics.rejected(failure.reason);
                        let reason = failure.reason;
                        shared.log(addr, reason.label(), reason.describe(), &failure.detail);
                    }
                }
            });
        }
    });
    rx
}

async fn handshake(shared: &Shared, tcp: TcpStream, addr: SocketAddr) -> Result<Conn, Failure> {
    let (stream, mtls) = shared.acceptor.accept(tcp, &addr).await?;
    shared.metrics.handshakes.inc();
    let identity = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|leaf| Identity::from_der(leaf));
    if let Some(id) = &identity {
        shared
            .metrics
            .expiry
            .client(id.name(), id.not_before, id.not_after);
    }
    let peer = Peer {
        addr,
        identity,
        mtls,
    };
    tracing::debug!(peer = %addr, identity = %peer.identity_text(), "Accepted TLS connection");
    Ok(Conn::tls(stream, peer, shared.lifetime))
}
