//! A tenant's name-constrained CA in the client-CA bundle cannot mint an identity the
//! authorization policy grants to a component: end to end, policy included.

mod support;

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};
use repo_client::VersionServiceClient;
use repo_testkit::{Ca, Leaf};
use repo_tls::ServerTrust;
use support::*;
use tonic::Code;

const POLICY: &str = r#"rules:
  - identities: ["argocd-server"]
    methods: ["*"]
"#;

/// A CA limited to DNS names under `tenant-a.example`: its PEM and its issuer.
fn tenant_ca() -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "tenant-a-ca");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("tenant-a.example".into())],
        excluded_subtrees: vec![],
    });
    let pem = p.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(p, key))
}

/// A client of `issuer` with this CN (none if empty) and DNS SANs, written into `dir`.
fn client(
    issuer: &Issuer<'static, KeyPair>,
    dir: &Path,
    name: &str,
    cn: &str,
    dns: &[&str],
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    if !cn.is_empty() {
        p.distinguished_name.push(DnType::CommonName, cn);
    }
    p.subject_alt_names = dns
        .iter()
        .map(|d| SanType::DnsName((*d).try_into().unwrap()))
        .collect();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let pair = repo_testkit::Pair {
        cert: p.signed_by(&key, issuer).unwrap().pem(),
        key: key.serialize_pem(),
    };
    pair.write(dir, name)
}

/// The gRPC code of Version for this identity; `None` when the connection was refused.
async fn version(addr: std::net::SocketAddr, id: (PathBuf, PathBuf)) -> Option<Code> {
    let channel = repo_client::open(
        &addr.to_string(),
        Some(connector(ServerTrust::Insecure, Some(id))),
        None,
    )
    .await
    .ok()?;
    match VersionServiceClient::new(channel).version(()).await {
        Ok(_) => Some(Code::Ok),
        // A refused handshake surfaces as a transport error on the first call.
        Err(status) if status.code() == Code::Unavailable || status.code() == Code::Unknown => None,
        Err(status) => Some(status.code()),
    }
}

#[tokio::test]
async fn a_constrained_tenant_ca_cannot_mint_argocd_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = Ca::new("argocd-ca");
    let (tenant_pem, tenant) = tenant_ca();
    root.issue(&Leaf::server()).write(dir.path(), "tls");
    std::fs::write(
        dir.path().join("client-ca.crt"),
        format!("{}{}", root.cert, tenant_pem),
    )
    .unwrap();
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    let mut config = config(Some(tls(dir.path())));
    config.authorization_policy = Some(dir.path().join("policy.yaml"));
    logs();
    let server = repo_server::start(config).await.unwrap();

    // The real component, from the unconstrained CA.
    let genuine = root
        .issue(&Leaf::client("argocd-server"))
        .write(dir.path(), "genuine");
    assert_eq!(version(server.grpc, genuine).await, Some(Code::Ok));
    // The tenant's forgery: CN=argocd-server, no SAN. Refused before the policy sees it.
    let forged = client(&tenant, dir.path(), "forged", "argocd-server", &[]);
    assert_eq!(version(server.grpc, forged).await, None);
    expect_rejections(server.http, "name_constraints", 1).await;
    // The same CN next to a SAN the constraints allow does not slip through either.
    let mixed = client(
        &tenant,
        dir.path(),
        "mixed",
        "argocd-server",
        &["app.tenant-a.example"],
    );
    assert_eq!(version(server.grpc, mixed).await, None);
    expect_rejections(server.http, "name_constraints", 2).await;
    // A tenant certificate inside its constraints connects, and the policy decides.
    let tenant_app = client(&tenant, dir.path(), "app", "", &["app.tenant-a.example"]);
    assert_eq!(
        version(server.grpc, tenant_app).await,
        Some(Code::PermissionDenied)
    );
    server.stop().await.unwrap();
}
