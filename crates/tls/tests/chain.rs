//! Every certificate of a client's chain, not only the leaf: the validity of each CA (the
//! bundle's own included), revocation of intermediates by their issuer's CRL, CRLs issued by
//! intermediates, and name constraints on the names the authorization policy reads. Each case
//! is a real handshake on 127.0.0.1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, NameConstraints, RevokedCertParams, SanType, SerialNumber,
};
use repo_tls::acceptor::{Acceptor, Configs};
use repo_tls::{Bundle, Connector, Crls, FileIdentity, Policy, Reason, ServerTrust, ServingCert};
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;

static SERIAL: AtomicU64 = AtomicU64::new(1000);

fn serial() -> u64 {
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// Validity from `from` to `to` days relative to now.
fn days(from: i64, to: i64) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (
        now + time::Duration::days(from),
        now + time::Duration::days(to),
    )
}

const VALID: (i64, i64) = (-1, 30);

/// Permitted DNS subtrees for a CA.
fn only(dns: &[&str]) -> Option<NameConstraints> {
    Some(NameConstraints {
        permitted_subtrees: dns
            .iter()
            .map(|d| GeneralSubtree::DnsName(d.to_string()))
            .collect(),
        excluded_subtrees: vec![],
    })
}

/// A CA: its PEM, its key (PEM, for a renewal with the same key) and the issuer to sign with.
struct Authority {
    pem: String,
    key: String,
    serial: u64,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params(
    cn: &str,
    (from, to): (i64, i64),
    constraints: Option<NameConstraints>,
) -> (CertificateParams, u64) {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (p.not_before, p.not_after) = days(from, to);
    p.name_constraints = constraints;
    let n = serial();
    p.serial_number = Some(SerialNumber::from(n));
    (p, n)
}

impl Authority {
    fn root(cn: &str, window: (i64, i64), constraints: Option<NameConstraints>) -> Self {
        Self::root_with_key(cn, window, constraints, KeyPair::generate().unwrap())
    }

    fn root_with_key(
        cn: &str,
        window: (i64, i64),
        constraints: Option<NameConstraints>,
        key: KeyPair,
    ) -> Self {
        let (p, serial) = ca_params(cn, window, constraints);
        let cert = p.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            key: key.serialize_pem(),
            serial,
            issuer: Issuer::new(p, key),
        }
    }

    /// The same CA re-issued with new dates and the same name and key.
    fn renewed(&self, cn: &str, window: (i64, i64)) -> Self {
        Self::root_with_key(cn, window, None, KeyPair::from_pem(&self.key).unwrap())
    }

    fn sub(&self, cn: &str, window: (i64, i64), constraints: Option<NameConstraints>) -> Self {
        let key = KeyPair::generate().unwrap();
        let (p, serial) = ca_params(cn, window, constraints);
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Self {
            pem: cert.pem(),
            key: key.serialize_pem(),
            serial,
            issuer: Issuer::new(p, key),
        }
    }

    /// A client leaf with EKU clientAuth, valid now; `cn` may be empty (no CN at all).
    fn leaf(&self, cn: &str, sans: &[SanType]) -> Client {
        self.leaf_dated(cn, sans, (VALID.0, 1))
    }

    fn leaf_dated(&self, cn: &str, sans: &[SanType], window: (i64, i64)) -> Client {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        if !cn.is_empty() {
            p.distinguished_name.push(DnType::CommonName, cn);
        }
        p.subject_alt_names = sans.to_vec();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        (p.not_before, p.not_after) = days(window.0, window.1);
        let serial = serial();
        p.serial_number = Some(SerialNumber::from(serial));
        Client {
            cert: p.signed_by(&key, &self.issuer).unwrap().pem(),
            key: key.serialize_pem(),
            serial,
        }
    }

    /// A PEM CRL of this CA revoking the certificates with these serials.
    fn crl(&self, serials: &[u64]) -> String {
        let now = OffsetDateTime::now_utc();
        CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(1),
            crl_number: SerialNumber::from(serial()),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }
}

struct Client {
    cert: String,
    key: String,
    serial: u64,
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

fn uri(name: &str) -> SanType {
    SanType::URI(name.try_into().unwrap())
}

/// What the server trusts: a client-CA bundle and optionally a CRL file.
struct Trust {
    dir: tempfile::TempDir,
    bundle: Bundle,
    crls: Crls,
}

fn trust(cas: &[&Authority], crl: Option<&str>) -> Trust {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("client-ca.crt");
    let pem: String = cas.iter().map(|c| c.pem.as_str()).collect();
    std::fs::write(&path, pem).unwrap();
    let bundle = Bundle::load(&path).unwrap();
    let crls = match crl {
        Some(crl) => parse_crl(&bundle, crl).unwrap(),
        None => Crls::default(),
    };
    Trust { dir, bundle, crls }
}

fn parse_crl(bundle: &Bundle, crl: &str) -> Result<Crls, repo_tls::Error> {
    Crls::parse(
        crl.as_bytes(),
        std::path::Path::new("client-crl.pem"),
        bundle,
    )
}

/// One handshake of `client` (presenting `chain` after its leaf) against a server trusting
/// `trust`; the server's verdict.
async fn handshake(trust: &Trust, client: &Client, chain: &[&Authority]) -> Result<(), Reason> {
    handshake_pem(trust, &client.cert, &client.key, chain).await
}

async fn handshake_pem(
    trust: &Trust,
    cert: &str,
    key: &str,
    chain: &[&Authority],
) -> Result<(), Reason> {
    repo_tls::install_provider();
    let configs = Configs::build(
        &ServingCert::self_signed().unwrap(),
        Some(&trust.bundle),
        &trust.crls,
        None,
        &Policy::default_policy(),
    )
    .unwrap();
    let acceptor = Acceptor::new(configs, Duration::from_secs(10));
    let n = serial();
    let cert_path = trust.dir.path().join(format!("client-{n}.crt"));
    let key_path = trust.dir.path().join(format!("client-{n}.key"));
    let full: String = std::iter::once(cert)
        .chain(chain.iter().map(|c| c.pem.as_str()))
        .collect();
    std::fs::write(&cert_path, full).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let identity = Arc::new(FileIdentity::new(cert_path, key_path));
    let connector = Connector::new(&ServerTrust::Insecure, Some(identity)).unwrap();
    let client = tokio::spawn(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        if let Ok(mut tls) = connector.connect("localhost", tcp).await {
            // TLS 1.3: a refusal reaches the client on its first read.
            let _ = tls.read(&mut [0u8; 1]).await;
        }
    });
    let (tcp, peer) = listener.accept().await.unwrap();
    let verdict = acceptor.accept(tcp, &peer).await.map(|_| ()).map_err(|f| {
        eprintln!("refused: {}", f.detail);
        f.reason
    });
    client.await.unwrap();
    verdict
}

mod expired_ca {
    use super::*;

    #[tokio::test]
    async fn leaf_of_an_expired_bundle_ca_is_refused() {
        let root = Authority::root("expired-root", (-30, -1), None);
        let client = root.leaf("argocd-server", &[]);
        let verdict = handshake(&trust(&[&root], None), &client, &[]).await;
        assert_eq!(verdict, Err(Reason::ExpiredCa));
    }

    #[tokio::test]
    async fn leaf_under_an_intermediate_of_an_expired_bundle_ca_is_refused() {
        let root = Authority::root("expired-root", (-30, -1), None);
        let sub = root.sub("intermediate", VALID, None);
        let client = sub.leaf("argocd-server", &[]);
        let verdict = handshake(&trust(&[&root], None), &client, &[&sub]).await;
        assert_eq!(verdict, Err(Reason::ExpiredCa));
    }

    #[tokio::test]
    async fn bundle_ca_not_valid_yet_is_refused() {
        let root = Authority::root("future-root", (1, 30), None);
        let client = root.leaf("argocd-server", &[]);
        let verdict = handshake(&trust(&[&root], None), &client, &[]).await;
        assert_eq!(verdict, Err(Reason::NotYetValidCa));
    }

    #[tokio::test]
    async fn expired_intermediate_is_named_as_a_ca() {
        let root = Authority::root("root", VALID, None);
        let sub = root.sub("expired-intermediate", (-30, -1), None);
        let client = sub.leaf("argocd-server", &[]);
        let verdict = handshake(&trust(&[&root], None), &client, &[&sub]).await;
        assert_eq!(verdict, Err(Reason::ExpiredCa));
    }

    #[tokio::test]
    async fn a_renewed_ca_with_the_same_key_takes_over_from_the_expired_one() {
        // Rotation: the bundle holds the expired CA first and its renewal (same name and key).
        let old = Authority::root("rotating-root", (-30, -1), None);
        let new = old.renewed("rotating-root", VALID);
        let client = old.leaf("argocd-server", &[]);
        assert_eq!(
            handshake(&trust(&[&old, &new], None), &client, &[]).await,
            Ok(())
        );
        assert_eq!(
            handshake(&trust(&[&old], None), &client, &[]).await,
            Err(Reason::ExpiredCa)
        );
    }

    #[tokio::test]
    async fn expired_leaf_keeps_its_own_reason() {
        let root = Authority::root("root", VALID, None);
        let client = root.leaf_dated("expired-leaf", &[], (-10, -1));
        let verdict = handshake(&trust(&[&root], None), &client, &[]).await;
        assert_eq!(verdict, Err(Reason::Expired));
    }
}

mod revocation {
    use super::*;

    #[tokio::test]
    async fn a_root_crl_revoking_the_intermediate_refuses_its_leaves() {
        let root = Authority::root("root", VALID, None);
        let sub = root.sub("intermediate", VALID, None);
        let client = sub.leaf("argocd-server", &[]);
        let crl = root.crl(&[sub.serial]);
        assert_eq!(
            handshake(&trust(&[&root], Some(&crl)), &client, &[&sub]).await,
            Err(Reason::Revoked)
        );
        // The same CRL without the intermediate in it: served.
        let crl = root.crl(&[]);
        assert_eq!(
            handshake(&trust(&[&root], Some(&crl)), &client, &[&sub]).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn an_intermediate_crl_is_accepted_and_applies() {
        let root = Authority::root("root", VALID, None);
        let sub = root.sub("intermediate", VALID, None);
        let (revoked, kept) = (sub.leaf("revoked", &[]), sub.leaf("kept", &[]));
        let crl = sub.crl(&[revoked.serial]);
        let trust = trust(&[&root], Some(&crl));
        assert_eq!(
            handshake(&trust, &revoked, &[&sub]).await,
            Err(Reason::Revoked)
        );
        assert_eq!(handshake(&trust, &kept, &[&sub]).await, Ok(()));
    }

    #[tokio::test]
    async fn a_combined_crl_file_applies_every_crl() {
        let root = Authority::root("root", VALID, None);
        let (a, b) = (
            root.sub("intermediate-a", VALID, None),
            root.sub("intermediate-b", VALID, None),
        );
        let direct = root.leaf("direct", &[]);
        let (from_a, from_b) = (a.leaf("from-a", &[]), b.leaf("from-b", &[]));
        // The root revokes intermediate b and a direct leaf; intermediate a revokes its leaf.
        let crl = format!(
            "{}{}",
            root.crl(&[b.serial, direct.serial]),
            a.crl(&[from_a.serial])
        );
        let trust = trust(&[&root], Some(&crl));
        assert_eq!(handshake(&trust, &direct, &[]).await, Err(Reason::Revoked));
        assert_eq!(
            handshake(&trust, &from_a, &[&a]).await,
            Err(Reason::Revoked)
        );
        assert_eq!(
            handshake(&trust, &from_b, &[&b]).await,
            Err(Reason::Revoked)
        );
        assert_eq!(
            handshake(&trust, &a.leaf("other-from-a", &[]), &[&a]).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn the_newest_crl_of_a_ca_applies_whatever_the_order_in_the_file() {
        // An operator appends the CA's new CRL to the file instead of replacing the old one.
        let root = Authority::root("root", VALID, None);
        let sub = root.sub("intermediate", VALID, None);
        let client = sub.leaf("revoked-later", &[]);
        let (old, new) = (sub.crl(&[]), sub.crl(&[client.serial]));
        for file in [format!("{old}{new}"), format!("{new}{old}")] {
            assert_eq!(
                handshake(&trust(&[&root], Some(&file)), &client, &[&sub]).await,
                Err(Reason::Revoked)
            );
        }
        let direct = root.leaf("direct", &[]);
        let (old, new) = (root.crl(&[]), root.crl(&[direct.serial]));
        assert_eq!(
            handshake(&trust(&[&root], Some(&format!("{old}{new}"))), &direct, &[]).await,
            Err(Reason::Revoked)
        );
    }

    #[tokio::test]
    async fn a_crl_by_an_impostor_of_the_intermediate_is_not_trusted() {
        // Same name as the real intermediate, another key: its CRL cannot revoke or pass for
        // the real one's; the server refuses to decide and refuses the client (fail closed).
        let root = Authority::root("root", VALID, None);
        let sub = root.sub("intermediate", VALID, None);
        let impostor = Authority::root("intermediate", VALID, None);
        let client = sub.leaf("argocd-server", &[]);
        let trust = trust(&[&root], Some(&impostor.crl(&[])));
        assert_eq!(
            handshake(&trust, &client, &[&sub]).await,
            Err(Reason::BadCertificate)
        );
    }

    #[test]
    fn a_crl_naming_a_bundle_ca_must_be_signed_by_it() {
        let root = Authority::root("root", VALID, None);
        let impostor = Authority::root("root", VALID, None);
        let trust = trust(&[&root], None);
        let err = parse_crl(&trust.bundle, &impostor.crl(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not signed by a CA of the client-CA bundle"),
            "{err}"
        );
        // The bundle CA's own CRL next to it does not rescue the file.
        let both = format!("{}{}", root.crl(&[]), impostor.crl(&[]));
        assert!(parse_crl(&trust.bundle, &both).is_err());
    }
}

mod name_constraints {
    use super::*;

    #[tokio::test]
    async fn a_constrained_ca_cannot_grant_an_outside_cn() {
        let tenant = Authority::root("tenant-a-ca", VALID, only(&["tenant-a.example"]));
        let client = tenant.leaf("argocd-server", &[]);
        assert_eq!(
            handshake(&trust(&[&tenant], None), &client, &[]).await,
            Err(Reason::NameConstraints)
        );
    }

    #[tokio::test]
    async fn a_constrained_intermediate_cannot_grant_an_outside_cn() {
        let root = Authority::root("root", VALID, None);
        let tenant = root.sub("tenant-a-ca", VALID, only(&["tenant-a.example"]));
        let client = tenant.leaf("argocd-server", &[]);
        assert_eq!(
            handshake(&trust(&[&root], None), &client, &[&tenant]).await,
            Err(Reason::NameConstraints)
        );
    }

    #[tokio::test]
    async fn an_allowed_san_does_not_carry_an_outside_cn() {
        let tenant = Authority::root("tenant-a-ca", VALID, only(&["tenant-a.example"]));
        let client = tenant.leaf("argocd-server", &[dns("app.tenant-a.example")]);
        assert_eq!(
            handshake(&trust(&[&tenant], None), &client, &[]).await,
            Err(Reason::NameConstraints)
        );
    }

    #[tokio::test]
    async fn a_uri_san_outside_the_dns_constraints_is_refused() {
        let tenant = Authority::root("tenant-a-ca", VALID, only(&["tenant-a.example"]));
        let spiffe = uri("spiffe://cluster.local/ns/argocd/sa/argocd-server");
        let client = tenant.leaf("", &[dns("app.tenant-a.example"), spiffe]);
        assert_eq!(
            handshake(&trust(&[&tenant], None), &client, &[]).await,
            Err(Reason::NameConstraints)
        );
        let inside = tenant.leaf("", &[uri("spiffe://tenant-a.example/app")]);
        assert_eq!(
            handshake(&trust(&[&tenant], None), &inside, &[]).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn names_inside_the_constraints_are_served() {
        let tenant = Authority::root("tenant-a-ca", VALID, only(&["tenant-a.example"]));
        let trust = trust(&[&tenant], None);
        for client in [
            tenant.leaf("app.tenant-a.example", &[]),
            tenant.leaf("tenant-a.example", &[dns("x.tenant-a.example")]),
            tenant.leaf("", &[dns("app.tenant-a.example")]),
        ] {
            assert_eq!(handshake(&trust, &client, &[]).await, Ok(()));
        }
        // A look-alike suffix is not inside.
        let evil = tenant.leaf("eviltenant-a.example", &[]);
        assert_eq!(
            handshake(&trust, &evil, &[]).await,
            Err(Reason::NameConstraints)
        );
    }

    #[tokio::test]
    async fn an_unconstrained_chain_keeps_cn_identities() {
        let root = Authority::root("root", VALID, None);
        let sub = root.sub("intermediate", VALID, None);
        let client = sub.leaf("argocd-server", &[]);
        assert_eq!(
            handshake(&trust(&[&root], None), &client, &[&sub]).await,
            Ok(())
        );
    }
}

/// X.509 v1 leaves (openssl's `x509 -req` without extensions) take the server's own path.
mod v1 {
    use super::*;
    use repo_testkit::{have_openssl, openssl};

    /// A v1 leaf with `cn`, signed by `ca` with openssl.
    fn v1_leaf(ca: &Authority, cn: &str) -> Option<(String, String)> {
        if !have_openssl() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ca.crt"), &ca.pem).unwrap();
        std::fs::write(d.join("ca.key"), &ca.key).unwrap();
        openssl(d, &["genrsa", "-out", "leaf.key", "2048"]);
        let subj = format!("/CN={cn}");
        openssl(
            d,
            &[
                "req", "-new", "-key", "leaf.key", "-subj", &subj, "-out", "leaf.csr",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.crt",
                "-days",
                "2",
            ],
        );
        let cert = std::fs::read_to_string(d.join("leaf.crt")).unwrap();
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(cert.as_bytes())
            .map(|d: rustls_pki_types::CertificateDer<'static>| d.to_vec())
            .unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(parsed.version(), x509_parser::x509::X509Version::V1);
        Some((cert, std::fs::read_to_string(d.join("leaf.key")).unwrap()))
    }

    #[tokio::test]
    async fn v1_leaf_of_an_expired_bundle_ca_is_refused() {
        let root = Authority::root("expired-root", (-30, -1), None);
        let Some((cert, key)) = v1_leaf(&root, "argocd-server") else {
            return;
        };
        let verdict = handshake_pem(&trust(&[&root], None), &cert, &key, &[]).await;
        assert_eq!(verdict, Err(Reason::ExpiredCa));
        let renewed = root.renewed("expired-root", VALID);
        let verdict = handshake_pem(&trust(&[&root, &renewed], None), &cert, &key, &[]).await;
        assert_eq!(verdict, Ok(()));
    }

    #[tokio::test]
    async fn v1_leaf_of_a_constrained_ca_is_held_to_its_constraints() {
        let tenant = Authority::root("tenant-a-ca", VALID, only(&["tenant-a.example"]));
        let Some((outside, outside_key)) = v1_leaf(&tenant, "argocd-server") else {
            return;
        };
        let trust = trust(&[&tenant], None);
        let verdict = handshake_pem(&trust, &outside, &outside_key, &[]).await;
        assert_eq!(verdict, Err(Reason::NameConstraints));
        let (inside, inside_key) = v1_leaf(&tenant, "app.tenant-a.example").unwrap();
        let verdict = handshake_pem(&trust, &inside, &inside_key, &[]).await;
        assert_eq!(verdict, Ok(()));
    }
}
