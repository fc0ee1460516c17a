//! An accepted connection and what is known about its peer.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use repo_identity::Identity;
use repo_tls::tokio_rustls::server::TlsStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::transport::server::Connected;

/// The remote end of a connection: its address and, under mTLS, its verified identity.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub identity: Option<Identity>,
    /// Whether the connection was made while client certificates were requested: without an
    /// identity, that means permissive mode let it through.
    pub mtls: bool,
}

impl Peer {
    /// `CN=… serial=…`, or `-` for an anonymous peer; formatted only where it is written.
    pub fn identity_text(&self) -> IdentityText<'_> {
        IdentityText(self.identity.as_ref())
    }
}

/// See [`Peer::identity_text`].
pub struct IdentityText<'a>(Option<&'a Identity>);

impl std::fmt::Display for IdentityText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(identity) => identity.fmt(f),
            None => f.write_str("-"),
        }
    }
}

enum Io {
    Tls(Box<TlsStream<TcpStream>>),
    Plain(TcpStream),
}

/// A connection handed to the gRPC server; every request on it carries its [`Peer`].
///
/// The gRPC server sends GOAWAY when a connection reaches its maximum age; the connection
/// itself enforces the hard end (age + grace), so no client keeps one past that whatever it
/// has in flight. (tonic's own grace setting skips the GOAWAY, so it is not used.)
pub(crate) struct Conn {
    io: Io,
    peer: Arc<Peer>,
    end: Option<Pin<Box<Sleep>>>,
}

impl Conn {
    pub(crate) fn tls(
        stream: TlsStream<TcpStream>,
        peer: Peer,
        lifetime: Option<Duration>,
    ) -> Self {
        Self::new(Io::Tls(Box::new(stream)), peer, lifetime)
    }

    pub(crate) fn plain(stream: TcpStream, addr: SocketAddr, lifetime: Option<Duration>) -> Self {
        Self::new(
            Io::Plain(stream),
            Peer {
                addr,
                identity: None,
                mtls: false,
            },
            lifetime,
        )
    }

    fn new(io: Io, peer: Peer, lifetime: Option<Duration>) -> Self {
        Self {
            io,
            peer: Arc::new(peer),
            end: lifetime.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }

    /// An error once the hard end of life has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let end = self.end.as_mut()?;
        end.as_mut().poll(cx).is_ready().then(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "connection reached its maximum age and grace period",
            )
        })
    }
}

impl Connected for Conn {
    type ConnectInfo = Arc<Peer>;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.expired(cx) {
            return Poll::Ready(Err(err));
        }
        match &mut this.io {
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.expired(cx) {
            return Poll::Ready(Err(err));
        }
        match &mut this.io {
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.expired(cx) {
            return Poll::Ready(Err(err));
        }
        match &mut this.io {
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tls(s) => s.is_write_vectored(),
            Io::Plain(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
