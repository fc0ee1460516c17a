//! A TCP relay that can stall: past a point well inside the pack it stops forwarding, which
//! leaves a client fetch hanging mid-pack, with a temporary pack on disk, until its timeout
//! kills it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bytes let through from the server before a stalling relay stops.
const STALL_AFTER: usize = 256 * 1024;

pub(crate) struct Proxy {
    pub port: u16,
    stall: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stall = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let (stalling, noted) = (stall.clone(), stalled.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let stall = stalling.load(Ordering::SeqCst).then(|| noted.clone());
                tokio::spawn(relay(client, upstream, stall));
            }
        });
        Self {
            port,
            stall,
            stalled,
            task,
        }
    }

    /// Whether a connection was cut off mid-transfer.
    pub(crate) fn stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }

    /// New connections pass everything through.
    pub(crate) fn heal(&self) {
        self.stall.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `stall`: where to note that this connection stalled; `None` to pass everything.
async fn relay(client: TcpStream, upstream: u16, stall: Option<Arc<AtomicBool>>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut passed = 0;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = if stall.is_some() {
            n.min(STALL_AFTER - passed)
        } else {
            n
        };
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
        passed += n;
        if let Some(stalled) = stall.as_ref().filter(|_| passed >= STALL_AFTER) {
            stalled.store(true, Ordering::SeqCst);
            // Hold the connection open, silent, until the client gives up.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    up.abort();
}
