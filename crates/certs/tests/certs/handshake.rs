//! An in-memory TLS handshake between the repo-server's client verifier and the clients'
//! connector, fed with the files `init` writes.

use std::path::Path;
use std::sync::Arc;

use repo_certs::{init, Init, KeyType};
use repo_tls::rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use repo_tls::{Bundle, ClientVerifier, Connector, FileIdentity, ServerTrust};
use rustls_pki_types::ServerName;

fn server_config(ca: &Path, cert: &Path, key: &Path) -> Arc<ServerConfig> {
    let bundle = Bundle::load(ca).unwrap();
    let config = ServerConfig::builder_with_provider(repo_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(Arc::new(ClientVerifier::new(&bundle).unwrap()))
        .with_single_cert(
            repo_tls::read_chain(cert).unwrap(),
            repo_tls::read_key(key).unwrap(),
        )
        .unwrap();
    Arc::new(config)
}

fn client_config(ca: &Path, cert: &Path, key: &Path) -> Arc<ClientConfig> {
    let trust = ServerTrust::load(&[ca]).unwrap();
    let identity = Arc::new(FileIdentity::new(cert, key));
    Connector::new(&trust, Some(identity)).unwrap().config()
}

/// Runs the handshake to completion; returns the server's view of the client's leaf.
fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    name: &str,
) -> Result<Vec<u8>, String> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut c = ClientConnection::new(client, name).unwrap();
    let mut s = ServerConnection::new(server).unwrap();
    for _ in 0..10 {
        let mut wire = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut wire).unwrap();
        }
        s.read_tls(&mut wire.as_slice()).unwrap();
        s.process_new_packets()
            .map_err(|e| format!("server: {e}"))?;
        let mut wire = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut wire).unwrap();
        }
        c.read_tls(&mut wire.as_slice()).unwrap();
        c.process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        if !c.is_handshaking() && !s.is_handshaking() {
            let peer = s.peer_certificates().ok_or("no client certificate")?;
            return Ok(peer[0].to_vec());
        }
    }
    Err("handshake did not finish".into())
}

#[test]
fn every_key_type_completes_an_mtls_handshake() {
    for key_type in [
        KeyType::EcdsaP256,
        KeyType::Rsa2048,
        KeyType::Rsa4096,
        KeyType::Ed25519,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        init(&Init {
            key_type,
            ..Init::new(&out)
        })
        .unwrap();
        let server = server_config(
            &out.join("ca.crt"),
            &out.join("tls.crt"),
            &out.join("tls.key"),
        );
        let client = client_config(
            &out.join("ca.crt"),
            &out.join("client.crt"),
            &out.join("client.key"),
        );
        for name in [
            "argocd-repo-server",
            "argocd-repo-server.argocd.svc.cluster.local",
            "localhost",
            "127.0.0.1",
        ] {
            let peer = handshake(server.clone(), client.clone(), name)
                .unwrap_or_else(|e| panic!("{key_type:?} {name}: {e}"));
            assert_eq!(
                peer,
                repo_tls::read_chain(&out.join("client.crt")).unwrap()[0].to_vec()
            );
        }
    }
}

#[test]
fn per_component_identities_complete_a_handshake_and_strangers_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    init(&Init {
        per_component: true,
        ..Init::new(&out)
    })
    .unwrap();
    let server = server_config(
        &out.join("ca.crt"),
        &out.join("tls.crt"),
        &out.join("tls.key"),
    );
    for c in repo_certs::COMPONENTS {
        let client = client_config(
            &out.join("ca.crt"),
            &out.join(c.name).join("client.crt"),
            &out.join(c.name).join("client.key"),
        );
        handshake(server.clone(), client, "argocd-repo-server").unwrap();
    }

    // A client of another init run: the server refuses it, the client still trusts the server
    // only if it uses this run's CA.
    let other = dir.path().join("other");
    init(&Init::new(&other)).unwrap();
    let stranger = client_config(
        &out.join("ca.crt"),
        &other.join("client.crt"),
        &other.join("client.key"),
    );
    let err = handshake(server.clone(), stranger, "argocd-repo-server").unwrap_err();
    assert!(err.starts_with("server:"), "{err}");
    let wrong_trust = client_config(
        &other.join("ca.crt"),
        &out.join("argocd-server/client.crt"),
        &out.join("argocd-server/client.key"),
    );
    let err = handshake(server, wrong_trust, "argocd-repo-server").unwrap_err();
    assert!(err.starts_with("client:"), "{err}");
}
