//! Property tests for the parsers that read operator- and peer-supplied bytes: PEM bundles and
//! CRL files, our DER splitter, and the client-certificate verifier. Valid input round-trips;
//! arbitrary or damaged input is refused, never a panic. Bounded case counts keep it fast.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use proptest::prelude::*;
use proptest::sample::Index;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::pem::parse_chain;
use crate::{der, Bundle, ClientVerifier, Crls};

/// A CA, its bundle and four leaves, generated once (key generation is the slow part).
struct Fixture {
    ca: repo_testkit::Ca,
    bundle: Bundle,
    leaves: Vec<repo_testkit::Pair>,
    /// The PEM and DER of the CA and every leaf.
    certs: Vec<(String, Vec<u8>)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        crate::install_provider();
        let ca = repo_testkit::Ca::new("props-ca");
        let leaves: Vec<_> = (0..4)
            .map(|i| ca.issue(&repo_testkit::Leaf::client(&format!("leaf-{i}"))))
            .collect();
        let certs = std::iter::once(ca.cert.clone())
            .chain(leaves.iter().map(|l| l.cert.clone()))
            .map(|pem| {
                let der = CertificateDer::from_pem_slice(pem.as_bytes())
                    .unwrap()
                    .to_vec();
                (pem, der)
            })
            .collect();
        let chain = parse_chain(ca.cert.as_bytes(), Path::new("ca.crt")).unwrap();
        let bundle = Bundle::from_certs(Path::new("ca.crt"), chain).unwrap();
        Fixture {
            ca,
            bundle,
            leaves,
            certs,
        }
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs every parser and the verifier on `bytes`; only a panic fails.
fn swallow(bytes: &[u8]) {
    let f = fixture();
    let path = Path::new("input.pem");
    if let Ok(certs) = parse_chain(bytes, path) {
        let _ = Bundle::from_certs(path, certs);
    }
    let _ = Crls::parse(bytes, path, &f.bundle);
    let _ = der::signed_cert(bytes);
    let _ = der::spki(bytes);
    let _ = crate::pem::parse_key(bytes, path);
    let verifier = ClientVerifier::new(&f.bundle).unwrap();
    let _ = verifier.verify_client_cert(&CertificateDer::from(bytes), &[], UnixTime::now());
}

/// `der` with the byte at `at` set to `to`, cut at `cut`.
fn damaged(der: &[u8], at: Index, to: u8, cut: Index) -> Vec<u8> {
    let mut der = der.to_vec();
    let i = at.index(der.len());
    der[i] = to;
    der.truncate(cut.index(der.len() + 1).max(1));
    der
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn pem_bundles_round_trip(
        picks in prop::collection::vec(0..5usize, 1..6),
        junk in prop::collection::vec("[a-z0-9 =:#]{0,16}", 6),
        crlf in any::<bool>(),
    ) {
        let f = fixture();
        let mut text = format!("{}\n", junk[0]);
        for (n, &i) in picks.iter().enumerate() {
            text.push_str(&f.certs[i].0);
            text.push_str(&junk[n + 1]);
            text.push('\n');
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let parsed = parse_chain(text.as_bytes(), Path::new("bundle.pem")).unwrap();
        let want: Vec<&[u8]> = picks.iter().map(|&i| f.certs[i].1.as_slice()).collect();
        let got: Vec<&[u8]> = parsed.iter().map(|d| d.as_ref()).collect();
        prop_assert_eq!(got, want);
        // Only the CA may act as one.
        let bundle = Bundle::from_certs(Path::new("bundle.pem"), parsed);
        prop_assert_eq!(bundle.is_ok(), picks.contains(&0));
        if let Ok(bundle) = bundle {
            prop_assert_eq!(bundle.len(), picks.iter().filter(|&&i| i == 0).count());
        }
    }

    #[test]
    fn crls_round_trip(mask in 0u8..16) {
        let f = fixture();
        let revoked: Vec<&repo_testkit::Pair> = f
            .leaves
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, l)| l)
            .collect();
        let text = f.ca.crl(&revoked);
        let crls = Crls::parse(text.as_bytes(), Path::new("crl.pem"), &f.bundle).unwrap();
        prop_assert_eq!(crls.len(), revoked.len());
        prop_assert_eq!(crls.intermediate(), 0);
        let verifier = ClientVerifier::with_crls(&f.bundle, &crls).unwrap();
        for (i, leaf) in f.certs[1..].iter().enumerate() {
            let verdict = verifier.verify_client_cert(
                &CertificateDer::from(leaf.1.as_slice()),
                &[],
                UnixTime::now(),
            );
            prop_assert_eq!(verdict.is_err(), mask & (1 << i) != 0);
        }
    }

    #[test]
    fn damaged_certificates_and_crls_are_refused_without_panic(
        which in 0..5usize,
        at in any::<Index>(),
        to in any::<u8>(),
        cut in any::<Index>(),
    ) {
        let f = fixture();
        let cert = damaged(&f.certs[which].1, at, to, cut);
        swallow(&cert);
        swallow(pem("CERTIFICATE", &cert).as_bytes());
        let crl_pem = f.ca.crl(&[&f.leaves[0]]);
        let crl = rustls_pki_types::CertificateRevocationListDer::from_pem_slice(crl_pem.as_bytes())
            .unwrap();
        let crl = damaged(&crl, at, to, cut);
        swallow(pem("X509 CRL", &crl).as_bytes());
        // A valid leaf with a damaged certificate as its intermediate.
        let verifier = ClientVerifier::new(&f.bundle).unwrap();
        let leaf = CertificateDer::from(f.certs[1].1.as_slice());
        let _ = verifier.verify_client_cert(&leaf, &[CertificateDer::from(cert)], UnixTime::now());
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_are_refused_without_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..1024),
        label in prop::sample::select(vec!["CERTIFICATE", "X509 CRL", "PRIVATE KEY"]),
    ) {
        swallow(&bytes);
        swallow(pem(label, &bytes).as_bytes());
    }
}
