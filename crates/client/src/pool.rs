//! One shared connection for all calls, instead of upstream's connection (and full mTLS
//! handshake) per call; replaced as soon as the client certificate changes on disk, so a
//! rotated identity is what the server sees from the next call on.

use std::sync::Arc;
use std::time::Duration;

use repo_tls::rustls::sign::CertifiedKey;
use repo_tls::{Connector, FileIdentity};
use tonic::transport::Channel;

use crate::channel::{open, tls, Error};
use crate::Settings;

/// A pooled channel to the repo-server. Cheap to clone; clones share the connection.
///
/// HTTP/2 multiplexes concurrent calls over the one connection. When the server closes it
/// (maximum connection age, restart), the channel reconnects on the next call.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    address: String,
    timeout: Option<Duration>,
    connector: Option<Connector>,
    identity: Option<Arc<FileIdentity>>,
    current: tokio::sync::Mutex<Option<Pooled>>,
}

struct Pooled {
    channel: Channel,
    /// The client certificate the connection was opened with.
    identity: Option<Arc<CertifiedKey>>,
}

impl Pool {
    /// Reads the TLS material as [`crate::connect`] does; connects on first use.
    pub fn new(settings: &Settings) -> Result<Self, Error> {
        let (connector, identity) = match tls(settings)? {
            Some((connector, identity)) => (Some(connector), identity),
            None => (None, None),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                address: settings.address.clone(),
                timeout: settings.timeout,
                connector,
                identity,
                current: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The shared channel; a new one when there was none or the client certificate changed.
    /// A client certificate that turned unreadable is an error, not a silent fallback.
    pub async fn channel(&self) -> Result<Channel, Error> {
        let inner = &self.inner;
        let identity = match &inner.identity {
            Some(file) => file.current()?,
            None => None,
        };
        let mut current = inner.current.lock().await;
        if let Some(pooled) = current.as_ref() {
            let same = match (&pooled.identity, &identity) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same {
                return Ok(pooled.channel.clone());
            }
            tracing::info!(address = %inner.address, "client certificate changed; opening a new repo-server connection");
        }
        let channel = open(&inner.address, inner.connector.clone(), inner.timeout).await?;
        *current = Some(Pooled {
            channel: channel.clone(),
            identity,
        });
        Ok(channel)
    }
}
