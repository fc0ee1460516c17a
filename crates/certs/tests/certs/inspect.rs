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

/// Whether `openssl x509 -req` issues v3 certificates: OpenSSL 3.2 made it add key
/// identifiers, so only older releases (and LibreSSL) issue v1 from a bare CSR.
fn openssl_issues_v3() -> bool {
    let out = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(release) = text.strip_prefix("OpenSSL ") else {
        return false;
    };
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || -> u32 {
        let part = parts.next().unwrap_or_default();
        part.parse()
            .unwrap_or_else(|_| panic!("unreadable `openssl version`: {text}"))
    };
    (next(), next()) >= (3, 2)
}

/// The recipe's leaves carry no SAN: a v1 certificate is flagged for its version, a v3 one (from
/// OpenSSL 3.2 on) for its missing subjectAltName. Either way the warning names the hostname
/// problem, and the `req -x509` CA is a clean v3 CA.
#[test]
fn certificates_of_the_openssl_recipe() {
    if !repo_testkit::have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    repo_testkit::openssl_recipe(dir.path());
    let (version, warning) = if openssl_issues_v3() {
        (3, Warning::NoSan)
    } else {
        (1, Warning::Version(1))
    };
    for name in ["client.crt", "server.crt"] {
        let leaf = one(&dir.path().join(name));
        assert_eq!(leaf.version, version, "{name}");
        assert_eq!(leaf.warnings, std::slice::from_ref(&warning), "{name}");
        assert_eq!(leaf.key, "RSA 2048", "{name}");
        let text = leaf.to_string();
        assert!(text.contains("by hostname"), "{name}: {text}");
    }
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
