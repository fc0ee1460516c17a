//! The load generator's side of a connection: TCP, then (optionally) TLS with a client
//! certificate, then HTTP/2.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature_with_raw_key, CryptoProvider};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::grpc::Conn;

/// How to reach one system under test.
#[derive(Clone)]
pub struct Dialer {
    pub addr: SocketAddr,
    tls: Option<TlsConnector>,
}

/// Client-side TLS: the certificate to present, and whether to resume sessions.
pub struct ClientTls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    pub resume: bool,
}

impl Dialer {
    pub fn plaintext(addr: SocketAddr) -> Self {
        Self { addr, tls: None }
    }

    pub fn tls(addr: SocketAddr, client: &ClientTls<'_>) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            tls: Some(TlsConnector::from(Arc::new(config(client)?))),
        })
    }

    /// A new connection, through every handshake, ready for calls.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
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
/// comparable.
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
    let chain = CertificateDer::pem_file_iter(client.cert)
        .with_context(|| format!("{}", client.cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(client.key)
        .with_context(|| format!("{}", client.key.display()))?;
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider.clone())))
        // Not `with_client_auth_cert`: its key check parses the certificate with webpki, which
        // refuses the recipe's X.509 v1 leaves.
        .with_client_cert_resolver(Arc::new(repo_tls::StaticIdentity(Arc::new(
            CertifiedKey::new(chain, provider.key_provider.load_private_key(key)?),
        ))));
    config.alpn_protocols = vec![b"h2".to_vec()];
    if !client.resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(config)
}

/// The load generator measures servers, not itself: it checks the server's handshake signature
/// but not its chain (the recipe's v1 server certificate has no SAN to match).
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "the load generator speaks TLS 1.3 only".into(),
        ))
    }

    /// From the key itself: webpki refuses to parse the recipe's X.509 v1 certificates.
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert)
            .map_err(|e| rustls::Error::General(format!("server certificate: {e}")))?;
        let spki = SubjectPublicKeyInfoDer::from(parsed.tbs_certificate.subject_pki.raw);
        verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
