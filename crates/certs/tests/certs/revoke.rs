//! `revoke`: the CRL it writes is accepted by the repo-server's loader and refuses exactly the
//! revoked certificates; a second run extends it.

use std::path::{Path, PathBuf};

use repo_certs::{revoke, Revoke};
use repo_tls::rustls::server::danger::ClientCertVerifier;
use repo_tls::{read_chain, Bundle, ClientVerifier, Crls, Reason};
use rustls_pki_types::UnixTime;

use crate::common::init;

fn args(out: &Path, crl: &Path, certs: Vec<PathBuf>) -> Revoke {
    Revoke {
        ca_cert: out.join("ca.crt"),
        ca_key: out.join("ca.key"),
        out: crl.to_path_buf(),
        days: 30,
        certs,
    }
}

fn verdict(verifier: &ClientVerifier, cert: &Path) -> Result<(), Reason> {
    let chain = read_chain(cert).unwrap();
    verifier
        .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
        .map(|_| ())
        .map_err(|e| Reason::of(&e))
}

fn verifier(out: &Path, crl: &Path) -> ClientVerifier {
    let bundle = Bundle::load(&out.join("ca.crt")).unwrap();
    let crls = Crls::parse(&std::fs::read(crl).unwrap(), crl, &bundle).unwrap();
    ClientVerifier::with_crls(&bundle, &crls).unwrap()
}

#[test]
fn revoked_certificates_are_refused_and_others_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out = init(dir.path());
    let crl = dir.path().join("client-crl.pem");
    let shared = out.join("client.crt");
    assert_eq!(revoke(&args(&out, &crl, vec![shared.clone()])).unwrap(), 1);
    assert_eq!(
        verdict(&verifier(&out, &crl), &shared),
        Err(Reason::Revoked)
    );
    // A second run adds to the list and keeps what was there.
    let second = out.join("tls.crt");
    assert_eq!(
        revoke(&args(&out, &crl, vec![second, shared.clone()])).unwrap(),
        2,
        "extends, without duplicates"
    );
    assert_eq!(
        verdict(&verifier(&out, &crl), &shared),
        Err(Reason::Revoked)
    );
}

#[test]
fn refuses_certificates_of_another_ca_and_a_foreign_crl() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (init(&dir.path().join("a")), init(&dir.path().join("b")));
    let crl = dir.path().join("client-crl.pem");
    let err = revoke(&args(&a, &crl, vec![b.join("client.crt")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not issued by --ca-cert"), "{err}");
    assert!(!crl.exists(), "nothing written on error");
    revoke(&args(&b, &crl, vec![b.join("client.crt")])).unwrap();
    let err = revoke(&args(&a, &crl, vec![a.join("client.crt")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("another CA"), "{err}");
    // The repo-server refuses a CRL not signed by a CA of its bundle.
    let bundle = Bundle::load(&a.join("ca.crt")).unwrap();
    let err = Crls::parse(&std::fs::read(&crl).unwrap(), &crl, &bundle)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not signed by a CA of the client-CA bundle"),
        "{err}"
    );
    let mismatched = Revoke {
        ca_key: b.join("ca.key"),
        ..args(&a, &dir.path().join("x.pem"), vec![a.join("client.crt")])
    };
    assert!(revoke(&mismatched)
        .unwrap_err()
        .to_string()
        .contains("does not belong"));
}
