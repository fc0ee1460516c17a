//! The load generator's side of a connection: TCP, then (optionally) TLS with a client
//! certificate, then HTTP/2.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use repo_tls::{Connector, FileIdentity, ServerTrust, StaticIdentity};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::grpc::Conn;

/// How to reach one system under test.
#[derive(Clone)]
pub(crate) struct Dialer {
    pub addr: SocketAddr,
    tls: Option<TlsConnector>,
}

/// Client-side TLS: the certificate to present, and whether to resume sessions.
pub(crate) struct ClientTls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub resume: bool,
}

impl Dialer {
    pub(crate) fn plaintext(addr: SocketAddr) -> Self {
        Self { addr, tls: None }
    }

    pub(crate) fn tls(addr: SocketAddr, client: &ClientTls<'_>) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            tls: Some(TlsConnector::from(Arc::new(config(client)?))),
        })
    }

    /// A new connection, through every handshake, ready for calls.
    pub(crate) async fn connect(&self) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Conn::over(tcp).await,
            Some(tls) => {
                let name = ServerName::IpAddress(self.addr.ip().into());
                Conn::over(tls.connect(name, tcp).await.context("TLS handshake")?).await
            }
        }
    }
}

/// Every system gets the offer of upstream's Go clients on AES hardware: TLS 1.3, AES-128-GCM
/// first, and X25519 only, so all servers do the same key exchange and the crypto floor is
/// comparable. The server's chain is not verified (the recipe's v1 server certificate has no
/// SAN to match); its handshake signature is, as by the components' own connector.
fn config(client: &ClientTls<'_>) -> anyhow::Result<ClientConfig> {
    use rustls::crypto::aws_lc_rs::{cipher_suite, default_provider, kx_group};
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::X25519],
        ..default_provider()
    });
    // Loaded once: the generator does not follow rotations, and a file check per handshake
    // would be client work in the measurement.
    let identity = FileIdentity::new(client.cert, client.key)
        .current()?
        .with_context(|| format!("{}: no client certificate", client.cert.display()))?;
    let connector = Connector::with_provider(
        &ServerTrust::Insecure,
        Some(Arc::new(StaticIdentity(identity))),
        provider,
    )?;
    let mut config = (*connector.config()).clone();
    if client.resume {
        config.resumption = rustls::client::Resumption::default();
    }
    Ok(config)
}
