//! The client-certificate verifier, case by case: refusals first.

use std::path::Path;
use std::time::Duration;

use repo_testkit::{have_openssl, openssl_recipe, Ca, Leaf};
use repo_tls::rustls::server::danger::ClientCertVerifier;
use repo_tls::{read_chain, Bundle, ClientVerifier, Error, HealthIdentity, Reason};
use rustls_pki_types::{CertificateDer, UnixTime};

fn verifier(dir: &Path, ca_pem: &str) -> ClientVerifier {
    let path = dir.join("client-ca.crt");
    std::fs::write(&path, ca_pem).unwrap();
    ClientVerifier::new(&Bundle::load(&path).unwrap()).unwrap()
}

fn der(dir: &Path, pem: &str) -> Vec<CertificateDer<'static>> {
    let path = dir.join("leaf.pem");
    std::fs::write(&path, pem).unwrap();
    read_chain(&path).unwrap()
}

fn verify_at(
    v: &ClientVerifier,
    chain: &[CertificateDer<'static>],
    now: UnixTime,
) -> Result<(), Reason> {
    v.verify_client_cert(&chain[0], &chain[1..], now)
        .map(|_| ())
        .map_err(|e| Reason::of(&e))
}

fn verify(v: &ClientVerifier, chain: &[CertificateDer<'static>]) -> Result<(), Reason> {
    verify_at(v, chain, UnixTime::now())
}

fn tamper(cert: &CertificateDer<'static>) -> CertificateDer<'static> {
    let mut bytes = cert.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    CertificateDer::from(bytes)
}

#[test]
fn refuses_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (Ca::new("ours"), Ca::new("theirs"));
    let v = verifier(dir.path(), &ours.cert);
    let leaf = der(dir.path(), &theirs.issue(&Leaf::client("x")).cert);
    assert_eq!(verify(&v, &leaf), Err(Reason::UnknownCa));
}

#[test]
fn refuses_self_signed() {
    let dir = tempfile::tempdir().unwrap();
    let v = verifier(dir.path(), &Ca::new("ours").cert);
    let leaf = der(dir.path(), &Leaf::client("me").self_signed().cert);
    assert_eq!(verify(&v, &leaf), Err(Reason::UnknownCa));
}

#[test]
fn refuses_expired_and_not_yet_valid() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let v = verifier(dir.path(), &ca.cert);
    let expired = der(dir.path(), &ca.issue(&Leaf::client("x").expired()).cert);
    assert_eq!(verify(&v, &expired), Err(Reason::Expired));
    let early = der(
        dir.path(),
        &ca.issue(&Leaf::client("x").not_yet_valid()).cert,
    );
    assert_eq!(verify(&v, &early), Err(Reason::NotYetValid));
}

#[test]
fn refuses_server_auth_only_eku() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let v = verifier(dir.path(), &ca.cert);
    let leaf = ca.issue(&Leaf::client("x").eku(vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth]));
    assert_eq!(
        verify(&v, &der(dir.path(), &leaf.cert)),
        Err(Reason::WrongKeyUsage)
    );
}

#[test]
fn refuses_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let v = verifier(dir.path(), &ca.cert);
    let leaf = der(dir.path(), &ca.issue(&Leaf::client("x")).cert);
    assert_eq!(verify(&v, &[tamper(&leaf[0])]), Err(Reason::BadSignature));
}

#[test]
fn refuses_ca_flagged_client() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let v = verifier(dir.path(), &ca.cert);
    let leaf = der(dir.path(), &ca.issue(&Leaf::client("x").ca_flagged()).cert);
    assert_eq!(verify(&v, &leaf), Err(Reason::CaAsClient));
}

#[test]
fn refuses_health_leaf_without_the_loopback_pin() {
    let dir = tempfile::tempdir().unwrap();
    let v = verifier(dir.path(), &Ca::new("ours").cert);
    let health = HealthIdentity::generate().unwrap();
    assert_eq!(verify(&v, &[health.leaf().clone()]), Err(Reason::UnknownCa));
}

#[test]
fn accepts_clientauth_and_absent_eku() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let v = verifier(dir.path(), &ca.cert);
    assert_eq!(
        verify(&v, &der(dir.path(), &ca.issue(&Leaf::client("x")).cert)),
        Ok(())
    );
    let no_eku = ca.issue(&Leaf::client("x").eku(vec![]));
    assert_eq!(verify(&v, &der(dir.path(), &no_eku.cert)), Ok(()));
}

#[test]
fn bundle_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("client-ca.crt");
    std::fs::write(&empty, "").unwrap();
    let err = Bundle::load(&empty).unwrap_err();
    assert!(matches!(err, Error::NoCertificate { .. }), "{err}");
    assert!(err.to_string().contains("client-ca.crt"));
    let leaf_only = dir.path().join("leaf-only.crt");
    std::fs::write(&leaf_only, Leaf::client("x").self_signed().cert).unwrap();
    let err = Bundle::load(&leaf_only).unwrap_err().to_string();
    assert!(
        err.contains("leaf-only.crt") && err.contains("not a CA"),
        "{err}"
    );
    assert!(Bundle::load(&dir.path().join("missing.crt")).is_err());
}

mod openssl_recipe {
    use super::*;

    fn recipe() -> Option<tempfile::TempDir> {
        if !have_openssl() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        openssl_recipe(dir.path());
        Some(dir)
    }

    fn v1_chain(dir: &Path, name: &str) -> Vec<CertificateDer<'static>> {
        read_chain(&dir.join(name)).unwrap()
    }

    #[test]
    fn leaves_are_v1_and_accepted() {
        let Some(dir) = recipe() else { return };
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(dir.path().join("client.crt"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("Version: 1 (0x0)"),
            "the recipe should give a v1 leaf here:\n{text}"
        );
        let v = ClientVerifier::new(&Bundle::load(&dir.path().join("ca.crt")).unwrap()).unwrap();
        assert_eq!(verify(&v, &v1_chain(dir.path(), "client.crt")), Ok(()));
    }

    #[test]
    fn v1_leaf_from_another_ca_is_refused() {
        let (Some(a), Some(b)) = (recipe(), recipe()) else {
            return;
        };
        // Both recipe CAs are named CN=argocd-internal-repo-ca: the name matches, the key does
        // not, which webpki also reports as a bad signature.
        let v = ClientVerifier::new(&Bundle::load(&a.path().join("ca.crt")).unwrap()).unwrap();
        assert_eq!(
            verify(&v, &v1_chain(b.path(), "client.crt")),
            Err(Reason::BadSignature)
        );
        let other = Ca::new("unrelated");
        let v = verifier(a.path(), &other.cert);
        assert_eq!(
            verify(&v, &v1_chain(b.path(), "client.crt")),
            Err(Reason::UnknownCa)
        );
    }

    #[test]
    fn v1_leaf_with_bad_signature_is_refused() {
        let Some(dir) = recipe() else { return };
        let v = ClientVerifier::new(&Bundle::load(&dir.path().join("ca.crt")).unwrap()).unwrap();
        let leaf = v1_chain(dir.path(), "client.crt");
        assert_eq!(verify(&v, &[tamper(&leaf[0])]), Err(Reason::BadSignature));
    }

    #[test]
    fn v1_validity_period_is_enforced() {
        let Some(dir) = recipe() else { return };
        let v = ClientVerifier::new(&Bundle::load(&dir.path().join("ca.crt")).unwrap()).unwrap();
        let leaf = v1_chain(dir.path(), "client.crt");
        let now = UnixTime::now().as_secs();
        let later = UnixTime::since_unix_epoch(Duration::from_secs(now + 400 * 86400));
        assert_eq!(verify_at(&v, &leaf, later), Err(Reason::Expired));
        let earlier = UnixTime::since_unix_epoch(Duration::from_secs(now - 86400));
        assert_eq!(verify_at(&v, &leaf, earlier), Err(Reason::NotYetValid));
    }

    #[test]
    fn revoked_v1_leaf_is_refused() {
        let Some(dir) = recipe() else { return };
        let d = dir.path();
        let ca_pem = std::fs::read_to_string(d.join("ca.crt")).unwrap();
        let key =
            rcgen::KeyPair::from_pem(&std::fs::read_to_string(d.join("ca.key")).unwrap()).unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, key).unwrap();
        let leaf = v1_chain(d, "client.crt");
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf[0]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let crl = rcgen::CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(parsed.tbs_certificate.raw_serial()),
                revocation_time: now,
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .unwrap()
        .pem()
        .unwrap();
        let bundle = Bundle::load(&d.join("ca.crt")).unwrap();
        let crls =
            repo_tls::Crls::parse(crl.as_bytes(), &d.join("client-crl.pem"), &bundle).unwrap();
        let v = ClientVerifier::with_crls(&bundle, &crls).unwrap();
        assert_eq!(verify(&v, &leaf), Err(Reason::Revoked));
        let plain = ClientVerifier::new(&bundle).unwrap();
        assert_eq!(verify(&plain, &leaf), Ok(()));
    }

    #[test]
    fn v1_certificate_never_acts_as_issuer() {
        let Some(dir) = recipe() else { return };
        let d = dir.path();
        // Sign a new client with the v1 *server* certificate as if it were a CA.
        let run = |args: &[&str]| repo_testkit::openssl(d, args);
        run(&["genrsa", "-out", "rogue.key", "2048"]);
        run(&[
            "req",
            "-new",
            "-key",
            "rogue.key",
            "-subj",
            "/CN=rogue",
            "-out",
            "rogue.csr",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "rogue.csr",
            "-CA",
            "server.crt",
            "-CAkey",
            "server.key",
            "-CAcreateserial",
            "-out",
            "rogue.crt",
            "-days",
            "30",
        ]);
        // A bundle holding the real CA and the v1 server certificate: the latter is skipped.
        let bundle = format!(
            "{}{}",
            std::fs::read_to_string(d.join("ca.crt")).unwrap(),
            std::fs::read_to_string(d.join("server.crt")).unwrap()
        );
        let v = verifier(d, &bundle);
        assert_eq!(
            verify(&v, &v1_chain(d, "rogue.crt")),
            Err(Reason::UnknownCa)
        );
        // And a bundle of only v1 certificates is refused outright.
        let only_v1 = d.join("only-v1.crt");
        std::fs::copy(d.join("server.crt"), &only_v1).unwrap();
        let err = Bundle::load(&only_v1).unwrap_err().to_string();
        assert!(err.contains("v1"), "{err}");
    }
}

mod key_formats {
    use super::*;
    use repo_testkit::openssl;
    use repo_tls::ServingCert;

    #[test]
    fn pkcs1_pkcs8_and_sec1_keys_load_and_mismatches_are_refused() {
        if !have_openssl() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(d, &["genrsa", "-traditional", "-out", "rsa1.key", "2048"]);
        openssl(
            d,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", "rsa1.key", "-out", "rsa8.key",
            ],
        );
        openssl(
            d,
            &[
                "req", "-new", "-x509", "-key", "rsa1.key", "-subj", "/CN=rsa", "-days", "2",
                "-out", "rsa.crt",
            ],
        );
        openssl(
            d,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ec.key",
            ],
        );
        openssl(
            d,
            &[
                "req", "-new", "-x509", "-key", "ec.key", "-subj", "/CN=ec", "-days", "2", "-out",
                "ec.crt",
            ],
        );
        assert!(std::fs::read_to_string(d.join("rsa1.key"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY"));
        assert!(std::fs::read_to_string(d.join("ec.key"))
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY"));
        ServingCert::load(&d.join("rsa.crt"), &d.join("rsa1.key")).expect("PKCS#1");
        ServingCert::load(&d.join("rsa.crt"), &d.join("rsa8.key")).expect("PKCS#8");
        ServingCert::load(&d.join("ec.crt"), &d.join("ec.key")).expect("SEC1");
        let err = ServingCert::load(&d.join("rsa.crt"), &d.join("ec.key")).unwrap_err();
        assert!(matches!(err, Error::KeyMismatch { .. }), "{err}");
        let err = ServingCert::load(&d.join("rsa.crt"), &d.join("rsa.crt")).unwrap_err();
        assert!(
            err.to_string().contains("rsa.crt") && err.to_string().contains("no private key"),
            "{err}"
        );
    }
}

#[test]
fn an_accepted_chain_still_expires() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let v = verifier(dir.path(), &ca.cert);
    let leaf = der(dir.path(), &ca.issue(&Leaf::client("x")).cert);
    assert_eq!(verify(&v, &leaf), Ok(()));
    assert_eq!(verify(&v, &leaf), Ok(()), "accepted again");
    let now = UnixTime::now().as_secs();
    let later = UnixTime::since_unix_epoch(Duration::from_secs(now + 2 * 86400));
    assert_eq!(verify_at(&v, &leaf, later), Err(Reason::Expired));
    let earlier = UnixTime::since_unix_epoch(Duration::from_secs(now - 2 * 3600));
    assert_eq!(verify_at(&v, &leaf, earlier), Err(Reason::NotYetValid));
}

#[test]
fn an_accepted_chain_does_not_vouch_for_a_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let v = verifier(dir.path(), &ca.cert);
    let leaf = der(dir.path(), &ca.issue(&Leaf::client("x")).cert);
    assert_eq!(verify(&v, &leaf), Ok(()));
    assert_eq!(verify(&v, &[tamper(&leaf[0])]), Err(Reason::BadSignature));
    // The same leaf with an extra certificate is another chain, checked afresh.
    let other = der(dir.path(), &Ca::new("theirs").cert);
    assert_eq!(
        verify(&v, &[leaf[0].clone(), other[0].clone()]),
        Ok(()),
        "an unused extra certificate does not make a valid chain invalid"
    );
}

#[test]
fn a_reloaded_verifier_checks_revocation_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ours");
    let pair = ca.issue(&Leaf::client("x"));
    let leaf = der(dir.path(), &pair.cert);
    let path = dir.path().join("client-ca.crt");
    std::fs::write(&path, &ca.cert).unwrap();
    let bundle = Bundle::load(&path).unwrap();
    let before = ClientVerifier::new(&bundle).unwrap();
    assert_eq!(verify(&before, &leaf), Ok(()));
    let crls = repo_tls::Crls::parse(
        ca.crl(&[&pair]).as_bytes(),
        &dir.path().join("client-crl.pem"),
        &bundle,
    )
    .unwrap();
    let after = ClientVerifier::with_crls(&bundle, &crls).unwrap();
    assert_eq!(verify(&after, &leaf), Err(Reason::Revoked));
}
