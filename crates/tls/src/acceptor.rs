//! Server side of the handshake. The configuration is read afresh for every connection, so a
//! new certificate set can be published while the server runs; loopback connections get a
//! configuration that also accepts the pinned health-probe identity.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::server::danger::ClientCertVerifier;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::serving::Fixed;
use crate::sessions::{self, Sessions};
use crate::verify::ClientVerifier;
use crate::Crls;
use crate::{Bundle, Error, HealthIdentity, Policy, Reason, ServingCert};

/// One configuration and the client verifier inside it.
#[derive(Debug, Clone)]
struct Config {
    server: Arc<ServerConfig>,
    verifier: Option<Arc<ClientVerifier>>,
}

/// The configurations in force at one time.
#[derive(Debug)]
pub struct Configs {
    external: Config,
    loopback: Config,
    mtls: bool,
}

impl Configs {
    /// Builds the configurations. With a bundle, client certificates are required; the
    /// health identity (if any) is accepted on loopback connections only.
    pub fn build(
        serving: &ServingCert,
        bundle: Option<&Bundle>,
        crls: &Crls,
        health: Option<&HealthIdentity>,
        policy: &Policy,
    ) -> Result<Self, Error> {
        Self::with_mode(serving, bundle, crls, health, policy, true)
    }

    /// As [`Configs::build`]; `required == false` is the permissive migration mode.
    pub fn with_mode(
        serving: &ServingCert,
        bundle: Option<&Bundle>,
        crls: &Crls,
        health: Option<&HealthIdentity>,
        policy: &Policy,
        required: bool,
    ) -> Result<Self, Error> {
        let mode = |v: ClientVerifier| if required { v } else { v.permissive() };
        let external = server_config(
            serving,
            bundle
                .map(|b| ClientVerifier::with_crls(b, crls).map(mode))
                .transpose()?,
            policy,
        )?;
        let loopback = match (bundle, health) {
            (Some(bundle), Some(health)) => server_config(
                serving,
                Some(mode(ClientVerifier::build(
                    bundle,
                    Some(health.pin()?),
                    crls,
                )?)),
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

    fn for_peer(&self, peer: &SocketAddr) -> &Config {
        if peer.ip().is_loopback() {
            &self.loopback
        } else {
            &self.external
        }
    }
}

fn server_config(
    serving: &ServingCert,
    verifier: Option<ClientVerifier>,
    policy: &Policy,
) -> Result<Config, Error> {
    let verifier = verifier.map(Arc::new);
    let builder = ServerConfig::builder_with_provider(policy.provider())
        .with_protocol_versions(policy.versions())?;
    let builder = match &verifier {
        Some(v) => builder.with_client_cert_verifier(v.clone()),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(Fixed(serving.certified())));
    // grpc-go >= 1.67 refuses TLS servers that do not select h2.
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.session_storage = Arc::new(Sessions::new(sessions::LIFETIME, sessions::CAPACITY));
    // One ticket is enough for the next connection; upstream's Go clients keep no session
    // cache at all, so every ticket sent to them is work for nothing.
    config.send_tls13_tickets = 1;
    Ok(Config {
        server: Arc::new(config),
        verifier,
    })
}

/// A resumed session skips the client-certificate check, and every resumption issues a new
/// ticket carrying the same chain; so the chain goes through the verifier again here, which
/// holds every certificate of it (the bundle's CA included) to its dates. A chain the verifier
/// accepted before costs a lookup (see `verified`); a reload of the certificate material ends
/// all sessions (see `sessions`).
fn resumed_validity(
    stream: &TlsStream<TcpStream>,
    verifier: Option<&ClientVerifier>,
) -> Result<(), rustls::Error> {
    let conn = stream.get_ref().1;
    if conn.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
        return Ok(());
    }
    let (Some(verifier), Some([leaf, intermediates @ ..])) = (verifier, conn.peer_certificates())
    else {
        return Ok(());
    };
    verifier
        .verify_client_cert(leaf, intermediates, rustls::pki_types::UnixTime::now())
        .map(|_| ())
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

    /// Runs the handshake; on success also says whether the configuration it used asked for a
    /// client certificate (a reload may have changed that since).
    pub async fn accept(
        &self,
        tcp: TcpStream,
        peer: &SocketAddr,
    ) -> Result<(TlsStream<TcpStream>, bool), Failure> {
        let configs = self.current.load_full();
        let config = configs.for_peer(peer);
        let handshake = tokio_rustls::TlsAcceptor::from(config.server.clone()).accept(tcp);
        match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(stream)) => match resumed_validity(&stream, config.verifier.as_deref()) {
                Ok(()) => Ok((stream, configs.mtls)),
                Err(err) => Err(Failure {
                    reason: Reason::of(&err),
                    detail: format!("resumed session: {err}"),
                }),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pem::parse_chain;
    use std::path::Path;

    fn configs() -> (Configs, HealthIdentity) {
        let ca = repo_testkit::Ca::new("ca");
        let chain = parse_chain(ca.cert.as_bytes(), Path::new("client-ca.crt")).unwrap();
        let bundle = Bundle::from_certs(Path::new("client-ca.crt"), chain).unwrap();
        let health = HealthIdentity::generate().unwrap();
        let serving = ServingCert::self_signed().unwrap();
        let configs = Configs::build(
            &serving,
            Some(&bundle),
            &Crls::default(),
            Some(&health),
            &Policy::default_policy(),
        )
        .unwrap();
        (configs, health)
    }

    #[test]
    fn health_pin_is_only_offered_to_loopback_peers() {
        let (configs, _) = configs();
        assert!(configs.mtls());
        let loopback = configs.for_peer(&"127.0.0.1:5000".parse().unwrap());
        let loopback6 = configs.for_peer(&"[::1]:5000".parse().unwrap());
        let remote = configs.for_peer(&"10.1.2.3:5000".parse().unwrap());
        let (lo, ext) = (&configs.loopback.server, &configs.external.server);
        assert!(Arc::ptr_eq(&loopback.server, lo) && Arc::ptr_eq(&loopback6.server, lo));
        assert!(Arc::ptr_eq(&remote.server, ext));
        assert!(!Arc::ptr_eq(lo, ext));
    }

    #[tokio::test]
    async fn remote_peer_presenting_the_health_identity_is_refused() {
        crate::install_provider();
        let (configs, health) = configs();
        let acceptor = Acceptor::new(configs, Duration::from_secs(5));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let identity = Arc::new(crate::StaticIdentity(health.certified()));
            let connector =
                crate::Connector::new(&crate::ServerTrust::Insecure, Some(identity)).unwrap();
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = connector.connect("localhost", tcp).await?;
            // TLS 1.3: the refusal reaches the client on its first read.
            tokio::io::AsyncReadExt::read(&mut tls, &mut [0u8; 1]).await
        });
        let (tcp, _) = listener.accept().await.unwrap();
        // The same socket, as if it came from another host.
        let failure = acceptor
            .accept(tcp, &"10.1.2.3:40000".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(failure.reason, Reason::UnknownCa);
        assert!(client.await.unwrap().is_err());
    }

    /// Waits until the first certificate of `pem` is expired by the verifier's rule (whole
    /// seconds past its notAfter): the wait follows the certificate, not a guessed duration.
    async fn until_expired(pem: &[u8]) {
        let der = parse_chain(pem, Path::new("cert.pem")).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der[0]).unwrap();
        let not_after = cert.validity().not_after.timestamp();
        while rustls::pki_types::UnixTime::now().as_secs() as i64 <= not_after {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One round: a connection with `client`, whose handshake kind the server reports.
    async fn round(
        acceptor: &Acceptor,
        client: &tokio_rustls::TlsConnector,
    ) -> rustls::HandshakeKind {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = client.clone();
        let task = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = client.connect(name, tcp).await.unwrap();
            // Reading processes the session ticket that precedes the byte.
            tls.read_exact(&mut [0u8; 1]).await.unwrap();
        });
        let (tcp, peer) = listener.accept().await.unwrap();
        let (mut stream, _) = acceptor.accept(tcp, &peer).await.unwrap();
        let kind = stream.get_ref().1.handshake_kind().unwrap();
        stream.write_all(b"x").await.unwrap();
        stream.flush().await.unwrap();
        task.await.unwrap();
        kind
    }

    #[tokio::test]
    async fn sessions_resume_until_the_configuration_is_reloaded() {
        crate::install_provider();
        let dir = tempfile::tempdir().unwrap();
        let ca = repo_testkit::Ca::new("ca");
        let chain = parse_chain(ca.cert.as_bytes(), Path::new("client-ca.crt")).unwrap();
        let bundle = Bundle::from_certs(Path::new("client-ca.crt"), chain).unwrap();
        let serving = ServingCert::self_signed().unwrap();
        let build = || {
            Configs::build(
                &serving,
                Some(&bundle),
                &Crls::default(),
                None,
                &Policy::default_policy(),
            )
            .unwrap()
        };
        let acceptor = Acceptor::new(build(), Duration::from_secs(5));
        let (cert, key) = ca
            .issue(&repo_testkit::Leaf::client("resumer"))
            .write(dir.path(), "client");
        let identity = Arc::new(crate::FileIdentity::new(cert, key));
        let connector =
            crate::Connector::new(&crate::ServerTrust::Insecure, Some(identity)).unwrap();
        let mut config = (*connector.config()).clone();
        config.resumption = rustls::client::Resumption::in_memory_sessions(8);
        let client = tokio_rustls::TlsConnector::from(Arc::new(config));

        assert_eq!(round(&acceptor, &client).await, rustls::HandshakeKind::Full);
        assert_eq!(
            round(&acceptor, &client).await,
            rustls::HandshakeKind::Resumed
        );
        // New certificate material: earlier sessions are not honoured any more.
        acceptor.store(build());
        assert_eq!(round(&acceptor, &client).await, rustls::HandshakeKind::Full);
        assert_eq!(
            round(&acceptor, &client).await,
            rustls::HandshakeKind::Resumed
        );
    }

    #[tokio::test]
    async fn a_session_does_not_outlive_its_client_certificate() {
        use tokio::io::AsyncReadExt;
        crate::install_provider();
        let dir = tempfile::tempdir().unwrap();
        let ca = repo_testkit::Ca::new("ca");
        let chain = parse_chain(ca.cert.as_bytes(), Path::new("client-ca.crt")).unwrap();
        let bundle = Bundle::from_certs(Path::new("client-ca.crt"), chain).unwrap();
        let configs = Configs::build(
            &ServingCert::self_signed().unwrap(),
            Some(&bundle),
            &Crls::default(),
            None,
            &Policy::default_policy(),
        )
        .unwrap();
        let acceptor = Acceptor::new(configs, Duration::from_secs(5));
        let mut leaf = repo_testkit::Leaf::client("short-lived");
        leaf.not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
        let (cert, key) = ca.issue(&leaf).write(dir.path(), "client");
        let identity = Arc::new(crate::FileIdentity::new(cert, key));
        let connector =
            crate::Connector::new(&crate::ServerTrust::Insecure, Some(identity)).unwrap();
        let mut config = (*connector.config()).clone();
        config.resumption = rustls::client::Resumption::in_memory_sessions(8);
        let client = tokio_rustls::TlsConnector::from(Arc::new(config));
        assert_eq!(round(&acceptor, &client).await, rustls::HandshakeKind::Full);
        let pem = std::fs::read(dir.path().join("client.crt")).unwrap();
        until_expired(&pem).await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = client.connect(name, tcp).await.unwrap();
            let _ = tls.read(&mut [0u8; 1]).await;
        });
        let (tcp, peer) = listener.accept().await.unwrap();
        let failure = acceptor.accept(tcp, &peer).await.unwrap_err();
        assert_eq!(failure.reason, Reason::Expired, "{}", failure.detail);
        assert!(
            failure.detail.starts_with("resumed session"),
            "{}",
            failure.detail
        );
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_session_does_not_outlive_the_clients_ca() {
        use tokio::io::AsyncReadExt;
        crate::install_provider();
        let dir = tempfile::tempdir().unwrap();
        // A CA that expires in two seconds, and a client of it valid for a day.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "short-lived-ca");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::seconds(2);
        let ca_pem = params.self_signed(&key).unwrap().pem();
        let issuer = rcgen::Issuer::new(params, key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.not_before = now - time::Duration::hours(1);
        leaf.not_after = now + time::Duration::days(1);
        let leaf_pem = leaf.signed_by(&leaf_key, &issuer).unwrap().pem();
        std::fs::write(dir.path().join("c.crt"), leaf_pem).unwrap();
        std::fs::write(dir.path().join("c.key"), leaf_key.serialize_pem()).unwrap();
        let chain = parse_chain(ca_pem.as_bytes(), Path::new("client-ca.crt")).unwrap();
        let bundle = Bundle::from_certs(Path::new("client-ca.crt"), chain).unwrap();
        let configs = Configs::build(
            &ServingCert::self_signed().unwrap(),
            Some(&bundle),
            &Crls::default(),
            None,
            &Policy::default_policy(),
        )
        .unwrap();
        let acceptor = Acceptor::new(configs, Duration::from_secs(5));
        let identity = Arc::new(crate::FileIdentity::new(
            dir.path().join("c.crt"),
            dir.path().join("c.key"),
        ));
        let connector =
            crate::Connector::new(&crate::ServerTrust::Insecure, Some(identity)).unwrap();
        let mut config = (*connector.config()).clone();
        config.resumption = rustls::client::Resumption::in_memory_sessions(8);
        let client = tokio_rustls::TlsConnector::from(Arc::new(config));
        assert_eq!(round(&acceptor, &client).await, rustls::HandshakeKind::Full);
        until_expired(ca_pem.as_bytes()).await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = client.connect(name, tcp).await.unwrap();
            let _ = tls.read(&mut [0u8; 1]).await;
        });
        let (tcp, peer) = listener.accept().await.unwrap();
        let failure = acceptor.accept(tcp, &peer).await.unwrap_err();
        assert_eq!(failure.reason, Reason::ExpiredCa, "{}", failure.detail);
        assert!(
            failure.detail.starts_with("resumed session"),
            "{}",
            failure.detail
        );
        task.await.unwrap();
    }
}
