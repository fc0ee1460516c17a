//! `init`: the files, their contents, modes and the Secret manifests.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use repo_certs::{init, Error, Init, KeyType, COMPONENTS};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::common::{find, secrets};

fn der(path: &Path) -> Vec<u8> {
    repo_tls::read_chain(path).unwrap()[0].to_vec()
}

/// What the tests look at in a certificate.
#[derive(Debug)]
struct Facts {
    subject_cn: String,
    issuer_cn: String,
    serial: Vec<u8>,
    version: u32,
    ca: Option<bool>,
    path_len: Option<u32>,
    key_cert_sign: bool,
    crl_sign: bool,
    server_auth: bool,
    client_auth: bool,
    dns: Vec<String>,
    uris: Vec<String>,
    ips: Vec<IpAddr>,
    days: i64,
}

fn facts(path: &Path) -> Facts {
    let der = der(path);
    let (_, c) = X509Certificate::from_der(&der).unwrap();
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut facts = Facts {
        subject_cn: cn(c.subject()),
        issuer_cn: cn(c.issuer()),
        serial: c.raw_serial().to_vec(),
        version: c.version().0 + 1,
        ca: c.basic_constraints().unwrap().map(|b| b.value.ca),
        path_len: c
            .basic_constraints()
            .unwrap()
            .and_then(|b| b.value.path_len_constraint),
        key_cert_sign: c
            .key_usage()
            .unwrap()
            .is_some_and(|k| k.value.key_cert_sign()),
        crl_sign: c.key_usage().unwrap().is_some_and(|k| k.value.crl_sign()),
        server_auth: c
            .extended_key_usage()
            .unwrap()
            .is_some_and(|e| e.value.server_auth),
        client_auth: c
            .extended_key_usage()
            .unwrap()
            .is_some_and(|e| e.value.client_auth),
        dns: vec![],
        uris: vec![],
        ips: vec![],
        days: (c.validity().not_after.to_datetime() - c.validity().not_before.to_datetime())
            .whole_days(),
    };
    for name in c
        .subject_alternative_name()
        .unwrap()
        .map(|s| s.value.general_names.clone())
        .unwrap_or_default()
    {
        match name {
            GeneralName::DNSName(d) => facts.dns.push(d.to_string()),
            GeneralName::URI(u) => facts.uris.push(u.to_string()),
            GeneralName::IPAddress(b) => facts.ips.push(match b.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(b).unwrap()),
                _ => IpAddr::from(<[u8; 16]>::try_from(b).unwrap()),
            }),
            other => panic!("unexpected SAN {other}"),
        }
    }
    facts
}

fn relative(out: &Path, written: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<_> = written
        .iter()
        .map(|p| p.strip_prefix(out).unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file under `dir`, relative, sorted (temporaries would show up here).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, names: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, names);
            } else {
                names.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut names = Vec::new();
    walk(dir, dir, &mut names);
    names.sort();
    names
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn shared_init_writes_the_ca_server_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new/out");
    let written = init(&Init::new(&out)).unwrap();
    let expected = [
        "ca.crt",
        "ca.key",
        "client.crt",
        "client.key",
        "secrets.yaml",
        "tls.crt",
        "tls.key",
    ];
    assert_eq!(relative(&out, &written), expected);
    assert_eq!(tree(&out), expected);

    let ca = facts(&out.join("ca.crt"));
    assert_eq!(
        (ca.subject_cn.as_str(), ca.issuer_cn.as_str()),
        ("argocd-repo-server-ca", "argocd-repo-server-ca")
    );
    assert_eq!((ca.version, ca.ca, ca.path_len), (3, Some(true), Some(0)));
    assert!(ca.key_cert_sign && ca.crl_sign);
    assert!(ca.days >= 3650, "{}", ca.days);

    let server = facts(&out.join("tls.crt"));
    assert_eq!(server.subject_cn, "argocd-repo-server");
    assert_eq!(server.issuer_cn, "argocd-repo-server-ca");
    assert_eq!(
        server.dns,
        [
            "argocd-repo-server",
            "argocd-repo-server.argocd.svc",
            "argocd-repo-server.argocd.svc.cluster.local",
            "localhost"
        ]
    );
    assert_eq!(server.ips, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    assert!(server.server_auth && !server.client_auth);
    assert_eq!(server.ca, Some(false));
    assert_eq!(server.days, 365);

    let client = facts(&out.join("client.crt"));
    assert_eq!(client.subject_cn, "argocd-repo-server-client");
    assert_eq!(client.issuer_cn, "argocd-repo-server-ca");
    assert!(client.client_auth && !client.server_auth);
    assert_eq!(client.ca, Some(false));
    assert!(client.dns.is_empty() && client.uris.is_empty());

    for serial in [&ca.serial, &server.serial, &client.serial] {
        assert_eq!(serial.len(), 16, "{serial:?}");
        assert!(serial[0] & 0x80 == 0);
    }
    assert!(ca.serial != server.serial && server.serial != client.serial);

    #[cfg(unix)]
    {
        for private in ["ca.key", "tls.key", "client.key", "secrets.yaml"] {
            assert_eq!(mode(&out.join(private)), 0o600, "{private}");
        }
        for public in ["ca.crt", "tls.crt", "client.crt"] {
            assert_eq!(mode(&out.join(public)) & 0o600, 0o600, "{public}");
            assert_eq!(mode(&out.join(public)) & 0o133, 0, "{public}");
        }
    }
}

#[test]
fn namespace_extra_names_and_days() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    init(&Init {
        namespace: "team-a".into(),
        dns_names: vec![
            "repo.example.com".into(),
            "10.1.2.3".into(),
            "localhost".into(),
        ],
        days: 30,
        ..Init::new(&out)
    })
    .unwrap();
    let server = facts(&out.join("tls.crt"));
    assert_eq!(
        server.dns,
        [
            "argocd-repo-server",
            "argocd-repo-server.team-a.svc",
            "argocd-repo-server.team-a.svc.cluster.local",
            "localhost",
            "repo.example.com"
        ]
    );
    assert_eq!(
        server.ips,
        [
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "10.1.2.3".parse().unwrap()
        ]
    );
    assert_eq!(server.days, 30);
    assert_eq!(facts(&out.join("client.crt")).days, 30);
    assert!(facts(&out.join("ca.crt")).days >= 3650);
    let all = secrets(&out.join("secrets.yaml"));
    assert!(all.iter().all(|s| s.metadata.namespace == "team-a"));

    // A CA never expires before its leaves.
    init(&Init {
        days: 5000,
        ..Init::new(dir.path().join("long"))
    })
    .unwrap();
    assert!(facts(&dir.path().join("long/ca.crt")).days >= 5000);
}

#[test]
fn bad_names_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let err = init(&Init {
        namespace: "Argo CD".into(),
        ..Init::new(&out)
    })
    .unwrap_err();
    assert!(matches!(err, Error::Namespace(_)), "{err}");
    let err = init(&Init {
        dns_names: vec!["not a name".into()],
        ..Init::new(&out)
    })
    .unwrap_err();
    assert!(err.to_string().contains("not a name"), "{err}");
    assert!(!out.exists());
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    init(&Init::new(&out)).unwrap();
    let before = std::fs::read(out.join("ca.crt")).unwrap();
    let err = init(&Init::new(&out)).unwrap_err();
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(out.join("ca.crt")).unwrap(), before);
    assert_eq!(tree(&out).len(), 7, "{:?}", tree(&out));

    init(&Init {
        force: true,
        ..Init::new(&out)
    })
    .unwrap();
    assert_ne!(std::fs::read(out.join("ca.crt")).unwrap(), before);
    assert_eq!(tree(&out).len(), 7, "{:?}", tree(&out));
}

#[test]
fn one_existing_target_means_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("argocd-server")).unwrap();
    std::fs::write(out.join("argocd-server/client.key"), "keep").unwrap();
    let err = init(&Init {
        per_component: true,
        ..Init::new(&out)
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("argocd-server/client.key"),
        "{err}"
    );
    assert_eq!(tree(&out), ["argocd-server/client.key"]);
    assert_eq!(
        std::fs::read_to_string(out.join("argocd-server/client.key")).unwrap(),
        "keep"
    );
}

#[test]
fn shared_secrets_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    init(&Init::new(&out)).unwrap();
    let all = secrets(&out.join("secrets.yaml"));
    assert_eq!(all.len(), 2);
    for s in &all {
        assert_eq!((s.api_version.as_str(), s.kind.as_str()), ("v1", "Secret"));
        assert_eq!(s.metadata.namespace, "argocd");
        assert_eq!(s.metadata.labels["app.kubernetes.io/part-of"], "argocd");
    }
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    let mtls = find(&all, "argocd-repo-server-mtls");
    assert_eq!(mtls.secret_type, "Opaque");
    assert_eq!(
        mtls.keys(),
        ["client-ca.crt", "client.crt", "client.key", "server-ca.crt"]
    );
    assert_eq!(mtls.value("client-ca.crt"), read("ca.crt"));
    assert_eq!(mtls.value("server-ca.crt"), read("ca.crt"));
    assert_eq!(mtls.value("client.crt"), read("client.crt"));
    assert_eq!(mtls.value("client.key"), read("client.key"));
    let tls = find(&all, "argocd-repo-server-tls");
    assert_eq!(tls.secret_type, "kubernetes.io/tls");
    assert_eq!(tls.keys(), ["ca.crt", "tls.crt", "tls.key"]);
    assert_eq!(tls.value("tls.crt"), read("tls.crt"));
    assert_eq!(tls.value("tls.key"), read("tls.key"));
    assert_eq!(tls.value("ca.crt"), read("ca.crt"));
}

#[test]
fn per_component_identities_and_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let written = init(&Init {
        per_component: true,
        namespace: "ops".into(),
        ..Init::new(&out)
    })
    .unwrap();
    let mut expected = vec![
        "ca.crt".to_string(),
        "ca.key".into(),
        "secrets-per-component-keys.yaml".into(),
        "secrets-per-secret.yaml".into(),
        "tls.crt".into(),
        "tls.key".into(),
    ];
    for c in COMPONENTS {
        expected.push(format!("{}/client.crt", c.name));
        expected.push(format!("{}/client.key", c.name));
    }
    expected.sort();
    assert_eq!(relative(&out, &written), expected);
    assert_eq!(tree(&out), expected);

    let names: Vec<_> = COMPONENTS.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "argocd-server",
            "argocd-application-controller",
            "argocd-applicationset-controller",
            "argocd-notifications-controller"
        ]
    );
    for c in COMPONENTS {
        let f = facts(&out.join(c.name).join("client.crt"));
        assert_eq!(f.subject_cn, c.name);
        assert_eq!(
            f.uris,
            [format!("spiffe://cluster.local/ns/ops/sa/{}", c.name)]
        );
        assert!(f.client_auth && !f.server_auth);
        assert_eq!(f.ca, Some(false));
        #[cfg(unix)]
        assert_eq!(mode(&out.join(c.name).join("client.key")), 0o600);
    }
    let read = |name: String| std::fs::read(out.join(name)).unwrap();

    // Option A: one Secret, per-component keys.
    let a = secrets(&out.join("secrets-per-component-keys.yaml"));
    assert_eq!(a.len(), 2);
    let mtls = find(&a, "argocd-repo-server-mtls");
    let mut keys = vec!["client-ca.crt".to_string(), "server-ca.crt".into()];
    for short in ["server", "controller", "applicationset", "notifications"] {
        keys.push(format!("{short}-client.crt"));
        keys.push(format!("{short}-client.key"));
    }
    keys.sort();
    assert_eq!(mtls.keys(), keys);
    for c in COMPONENTS {
        assert_eq!(
            mtls.value(&format!("{}-client.crt", c.short)),
            read(format!("{}/client.crt", c.name))
        );
        assert_eq!(
            mtls.value(&format!("{}-client.key", c.short)),
            read(format!("{}/client.key", c.name))
        );
    }
    assert_eq!(
        find(&a, "argocd-repo-server-tls").keys(),
        ["ca.crt", "tls.crt", "tls.key"]
    );

    // Option B: one Secret per component.
    let b = secrets(&out.join("secrets-per-secret.yaml"));
    assert_eq!(b.len(), 6);
    assert_eq!(
        find(&b, "argocd-repo-server-mtls").keys(),
        ["client-ca.crt"]
    );
    for c in COMPONENTS {
        let s = find(&b, &format!("argocd-repo-server-mtls-{}", c.short));
        assert_eq!(s.secret_type, "Opaque");
        assert_eq!(s.keys(), ["client.crt", "client.key", "server-ca.crt"]);
        assert_eq!(
            s.value("client.crt"),
            read(format!("{}/client.crt", c.name))
        );
        assert_eq!(s.value("server-ca.crt"), read("ca.crt".into()));
    }
    assert_eq!(
        find(&b, "argocd-repo-server-tls").secret_type,
        "kubernetes.io/tls"
    );
    assert!(a.iter().chain(&b).all(|s| s.metadata.namespace == "ops"));
}

#[test]
fn every_key_type_loads_and_verifies_with_the_repo_server_code() {
    use repo_tls::rustls::server::danger::ClientCertVerifier;
    use rustls_pki_types::UnixTime;

    for (key_type, name) in [
        (KeyType::EcdsaP256, "ECDSA P-256"),
        (KeyType::Rsa2048, "RSA 2048"),
        (KeyType::Rsa4096, "RSA 4096"),
        (KeyType::Ed25519, "Ed25519"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        init(&Init {
            key_type,
            per_component: true,
            ..Init::new(&out)
        })
        .unwrap();
        let verifier =
            repo_tls::ClientVerifier::new(&repo_tls::Bundle::load(&out.join("ca.crt")).unwrap())
                .unwrap();
        let now = time::OffsetDateTime::now_utc();
        for c in COMPONENTS {
            let (crt, key) = (
                out.join(c.name).join("client.crt"),
                out.join(c.name).join("client.key"),
            );
            assert!(
                repo_tls::FileIdentity::new(&crt, &key)
                    .current()
                    .unwrap()
                    .is_some(),
                "{key_type:?}"
            );
            verifier
                .verify_client_cert(
                    &repo_tls::read_chain(&crt).unwrap()[0],
                    &[],
                    UnixTime::now(),
                )
                .unwrap_or_else(|e| panic!("{key_type:?} {}: {e}", c.name));
            assert_eq!(repo_certs::inspect(&crt, now).unwrap()[0].key, name);
        }
        repo_tls::ServingCert::load(&out.join("tls.crt"), &out.join("tls.key")).unwrap();
        assert_eq!(
            repo_certs::inspect(&out.join("ca.crt"), now).unwrap()[0].key,
            name
        );
    }
}
