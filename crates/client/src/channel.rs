//! Opening a gRPC channel to the repo-server: h2c, or TLS with our connector.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use repo_tls::rustls::client::ResolvesClientCert;
use repo_tls::{Connector, FileIdentity, ServerTrust};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::{Settings, SettingsError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("error loading repo-server TLS material: {0}")]
    Tls(#[from] repo_tls::Error),
    #[error("invalid repo-server address {address:?}: {detail}")]
    Address { address: String, detail: String },
    #[error("cannot connect to the repo-server at {address}: {detail}")]
    Connect { address: String, detail: String },
}

/// The full cause chain of an error, on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Builds the TLS connector the settings call for: the CA files are read now (a missing file
/// is an error here, not an empty trust pool later), and the client certificate is checked now
/// if present, then re-read whenever it changes.
pub fn connector(settings: &Settings) -> Result<Option<Connector>, Error> {
    Ok(tls(settings)?.map(|(connector, _)| connector))
}

/// A TLS connector and the client identity file it presents, when the settings name one.
pub(crate) type Tls = (Connector, Option<Arc<FileIdentity>>);

/// The connector and identity the settings call for; `None` for plaintext.
pub(crate) fn tls(settings: &Settings) -> Result<Option<Tls>, Error> {
    if settings.plaintext {
        return Ok(None);
    }
    let trust = if settings.strict() {
        let paths: Vec<_> = settings.server_ca.iter().map(|p| p.as_path()).collect();
        ServerTrust::load(&paths)?
    } else {
        ServerTrust::Insecure
    };
    let identity = match &settings.client_cert {
        Some((cert, key)) => {
            let identity = Arc::new(FileIdentity::new(cert, key));
            if identity.current()?.is_none() {
                tracing::debug!(file = %cert.display(), "Client cert file does not exist; skipping mTLS client certificate");
            }
            Some(identity)
        }
        None => None,
    };
    let resolver = identity.clone().map(|i| i as Arc<dyn ResolvesClientCert>);
    Ok(Some((Connector::new(&trust, resolver)?, identity)))
}

/// Connects as the settings say.
pub async fn connect(settings: &Settings) -> Result<Channel, Error> {
    open(&settings.address, connector(settings)?, settings.timeout).await
}

/// Connects to `address` (host:port) over TLS with `tls`, or h2c without it.
pub async fn open(
    address: &str,
    tls: Option<Connector>,
    timeout: Option<Duration>,
) -> Result<Channel, Error> {
    let bad = |detail: String| Error::Address {
        address: address.to_string(),
        detail,
    };
    let mut endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    let failed = |e: tonic::transport::Error| Error::Connect {
        address: address.to_string(),
        detail: chain(&e),
    };
    match tls {
        None => endpoint.connect().await.map_err(failed),
        Some(connector) => endpoint
            .connect_with_connector(tower::service_fn(move |uri: Uri| {
                let connector = connector.clone();
                async move {
                    let host = uri
                        .host()
                        .unwrap_or("localhost")
                        .trim_matches(['[', ']'])
                        .to_string();
                    let port = uri.port_u16().unwrap_or(443);
                    let tcp = TcpStream::connect((host.as_str(), port)).await?;
                    tcp.set_nodelay(true)?;
                    let tls = connector.connect(&host, tcp).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            }))
            .await
            .map_err(failed),
    }
}
