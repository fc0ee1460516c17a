//! `inspect`: what it reports and warns about.

use std::path::Path;

use repo_certs::{inspect, San, Summary, Warning};
use repo_testkit::{Ca, Leaf};
use time::OffsetDateTime;

fn one(path: &Path) -> Summary {
    let mut all = inspect(path, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// Writes a testkit leaf under `name` and describes it.
fn leaf(dir: &Path, name: &str, leaf: &Leaf) -> Summary {
    let pair = Ca::new("testkit-ca").issue(leaf);
    let path = dir.join(name);
    std::fs::write(&path, pair.cert).unwrap();
    one(&path)
}

#[test]
fn init_output_is_described_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::init(dir.path());
    let ca = one(&out.join("ca.crt"));
    assert_eq!(ca.subject, "CN=argocd-repo-server-ca");
    assert_eq!((ca.version, ca.ca, ca.path_len), (3, Some(true), Some(0)));
    assert!(ca
        .key_usage
        .is_some_and(|k| k.key_cert_sign() && k.crl_sign()));
    assert!(ca.days_left >= 3649, "{}", ca.days_left);
    assert_eq!(ca.warnings, []);

    let server = one(&out.join("tls.crt"));
    assert_eq!(server.issuer, "CN=argocd-repo-server-ca");
    assert_eq!(server.eku.as_deref(), Some(&["serverAuth".to_string()][..]));
    assert!(server
        .sans
        .contains(&San::Dns("argocd-repo-server.argocd.svc".into())));
    assert!(server.sans.contains(&San::Ip("127.0.0.1".parse().unwrap())));
    assert_eq!(server.key, "ECDSA P-256");
    assert!(
        (364..=365).contains(&server.days_left),
        "{}",
        server.days_left
    );
    assert_eq!(server.warnings, []);

    let client = one(&out.join("client.crt"));
    assert_eq!(client.eku.as_deref(), Some(&["clientAuth".to_string()][..]));
    assert_eq!(client.ca, Some(false));
    assert_eq!(client.warnings, []);

    let text = server.to_string();
    for field in [
        "subject:",
        "issuer:",
        "serial:",
        "version:",
        "not before:",
        "not after:",
        "SANs:",
        "key usage:",
        "EKU:",
        "CA:",
        "key:",
        "SHA-256:",
    ] {
        assert!(text.contains(field), "{field} missing:\n{text}");
    }
    assert!(
        text.contains("DNS:argocd-repo-server.argocd.svc.cluster.local"),
        "{text}"
    );
    assert!(text.contains("IP:127.0.0.1"), "{text}");
    assert!(text.contains("days left"), "{text}");
    assert!(!text.contains("warning"), "{text}");
}

#[test]
fn fingerprint_matches_openssl() {
    if !repo_testkit::have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::init(dir.path());
    let path = out.join("tls.crt");
    let openssl = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(openssl.stdout).unwrap();
    let theirs = text.trim().rsplit('=').next().unwrap();
    assert_eq!(one(&path).fingerprint, theirs);
}

#[test]
fn v1_certificates_of_the_openssl_recipe() {
    if !repo_testkit::have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    repo_testkit::openssl_recipe(dir.path());
    let client = one(&dir.path().join("client.crt"));
    if client.version != 1 {
        eprintln!(
            "skipping: this OpenSSL issues v{} certificates with `x509 -req`",
            client.version
        );
        return;
    }
    assert_eq!(client.warnings, [Warning::Version(1)]);
    assert_eq!(client.key, "RSA 2048");
    assert!(client
        .to_string()
        .contains("cannot be verified by hostname"));
    assert_eq!(
        one(&dir.path().join("server.crt")).warnings,
        [Warning::Version(1)]
    );
    // `req -x509` makes a v3 CA, which is fine.
    assert_eq!(one(&dir.path().join("ca.crt")).warnings, []);
}

#[test]
fn validity_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let expired = leaf(dir.path(), "client.crt", &Leaf::client("old").expired());
    assert_eq!(expired.warnings, [Warning::Expired { days: 1 }]);
    assert!(expired.days_left < 0);
    assert!(expired.to_string().contains("expired 1 day ago"));
    let future = leaf(
        dir.path(),
        "client.crt",
        &Leaf::client("new").not_yet_valid(),
    );
    assert_eq!(future.warnings, [Warning::NotYetValid { days: 0 }]);
    let soon = leaf(dir.path(), "client.crt", &Leaf::client("soon"));
    assert_eq!(soon.warnings, [Warning::ExpiresSoon { days: 0 }]);
}

#[test]
fn usage_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let year = |l: Leaf| Leaf {
        not_after: OffsetDateTime::now_utc() + time::Duration::days(365),
        ..l
    };

    let ca_leaf = year(Leaf::client("ca").ca_flagged());
    assert_eq!(
        leaf(dir.path(), "client.crt", &ca_leaf).warnings,
        [Warning::CaAsLeaf]
    );
    assert_eq!(leaf(dir.path(), "unknown.pem", &ca_leaf).warnings, []);

    let not_ca = leaf(dir.path(), "client-ca.crt", &year(Leaf::client("x")));
    assert!(
        matches!(not_ca.warnings[..], [Warning::NotACa(_)]),
        "{:?}",
        not_ca.warnings
    );

    let bare_server = Leaf {
        dns: vec![],
        ips: vec![],
        ..year(Leaf::server())
    };
    assert_eq!(
        leaf(dir.path(), "tls.crt", &bare_server).warnings,
        [Warning::NoSan]
    );
    // A client-only certificate needs no SAN.
    assert_eq!(
        leaf(dir.path(), "client.crt", &year(Leaf::client("c"))).warnings,
        []
    );

    let signing = year(Leaf::client("c")).eku(vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning]);
    assert_eq!(
        leaf(dir.path(), "client.crt", &signing).warnings,
        [Warning::NoTlsPurpose]
    );
}

#[test]
fn chains_and_bundles_are_described_certificate_by_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::init(dir.path());
    let chain = dir.path().join("client.crt");
    let mut pem = std::fs::read_to_string(out.join("client.crt")).unwrap();
    pem.push_str(&std::fs::read_to_string(out.join("ca.crt")).unwrap());
    std::fs::write(&chain, pem).unwrap();
    let all = inspect(&chain, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].ca, Some(true));
    assert!(all.iter().all(|s| s.warnings.is_empty()), "{all:#?}");
}

#[test]
fn a_file_without_certificates_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::init(dir.path());
    let err = inspect(&out.join("client.key"), OffsetDateTime::now_utc()).unwrap_err();
    assert!(err.to_string().contains("client.key"), "{err}");
}
