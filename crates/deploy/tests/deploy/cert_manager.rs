//! deploy/cert-manager: the issued certificates, and the wiring that renames cert-manager's
//! keys (tls.crt, tls.key, ca.crt) to the ones Argo CD reads.

use serde_json::Value;

use crate::argocd::assert_client_wired;
use crate::support::invariants::{check, secret_sources};
use crate::support::pod::{items, mount_at};
use crate::support::setup::{render_dir, Install, Layout, Setup};
use crate::support::{clients, MTLS_PATH, MTLS_SECRET, REPO_SERVER, TLS_SECRET};

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn cert_manager_issues_the_server_and_one_identity_per_component() {
    let Some(r) = render_dir("cert-manager") else {
        return;
    };
    check(&r);

    // The chain: self-signed root -> CA Certificate -> CA Issuer signing everything else.
    let root = r.cert_manager("Issuer", "argocd-repo-server-selfsigned");
    assert!(root["spec"]["selfSigned"].is_object());
    let ca = r.cert_manager("Certificate", "argocd-repo-server-ca");
    assert_eq!(ca["spec"]["isCA"], true);
    assert_eq!(
        ca["spec"]["issuerRef"]["name"],
        "argocd-repo-server-selfsigned"
    );
    let issuer = r.cert_manager("Issuer", "argocd-repo-server-ca");
    assert_eq!(issuer["spec"]["ca"]["secretName"], ca["spec"]["secretName"]);

    let server = r.cert_manager("Certificate", "argocd-repo-server");
    assert_eq!(server["spec"]["secretName"], TLS_SECRET);
    assert_eq!(server["spec"]["issuerRef"]["name"], "argocd-repo-server-ca");
    assert_eq!(server["spec"]["issuerRef"]["kind"], "Issuer");
    let dns = strings(&server["spec"]["dnsNames"]);
    for name in [
        "argocd-repo-server",
        "argocd-repo-server.argocd.svc",
        "argocd-repo-server.argocd.svc.cluster.local",
    ] {
        assert!(
            dns.contains(&name),
            "server certificate lacks {name}: {dns:?}"
        );
    }
    let usages = strings(&server["spec"]["usages"]);
    assert!(usages.contains(&"server auth"), "{usages:?}");
    assert!(!usages.contains(&"client auth"), "{usages:?}");

    let mut secrets = Vec::new();
    for client in clients(Install::Default) {
        let cert = r.cert_manager(
            "Certificate",
            &format!("argocd-repo-server-client-{}", client.short),
        );
        // The CN is the identity the authorization policy and the logs use.
        assert_eq!(cert["spec"]["commonName"], client.name);
        assert_eq!(
            cert["spec"]["secretName"],
            format!("{MTLS_SECRET}-{}", client.short)
        );
        assert_eq!(cert["spec"]["issuerRef"]["name"], "argocd-repo-server-ca");
        let usages = strings(&cert["spec"]["usages"]);
        assert!(usages.contains(&"client auth"), "{usages:?}");
        assert!(!usages.contains(&"server auth"), "{usages:?}");
        secrets.push(cert["spec"]["secretName"].as_str().unwrap().to_string());
    }
    // One Certificate per Secret (cert-manager fights over a Secret two Certificates write).
    let mut all: Vec<&str> = r
        .cert_manager_all("Certificate")
        .into_iter()
        .map(|c| c["spec"]["secretName"].as_str().unwrap())
        .collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(all.len(), before, "two Certificates write one Secret");
}

#[test]
fn cert_manager_wiring_maps_the_keys_with_projected_items() {
    for install in Install::ALL {
        let Some(r) = Setup::new(install, Layout::CertManager, &[]).render() else {
            return;
        };
        check(&r);
        for client in clients(install) {
            assert_client_wired(
                &r,
                client,
                &format!("{MTLS_SECRET}-{}", client.short),
                [
                    ("tls.crt", "client.crt"),
                    ("tls.key", "client.key"),
                    ("ca.crt", "server-ca.crt"),
                ],
            );
        }

        // The repo-server: client-ca.crt is the CA that issued the serving certificate, the
        // CRL still comes from the hand-made Secret; both in one directory, one volume.
        let w = r.workload("Deployment", REPO_SERVER);
        let volume = w.volume(MTLS_SECRET);
        assert!(
            volume.secret.is_none(),
            "{}: both secret and projected",
            r.label
        );
        assert!(volume.projected.is_some(), "{}: not projected", r.label);
        let sources: Vec<(&str, Vec<(&str, &str)>)> = secret_sources(volume)
            .into_iter()
            .map(|s| (s.name, items(s.items)))
            .collect();
        assert_eq!(
            sources,
            [
                (TLS_SECRET, vec![("ca.crt", "client-ca.crt")]),
                (MTLS_SECRET, vec![("client-crl.pem", "client-crl.pem")]),
            ]
        );
        let c = w.container(REPO_SERVER);
        assert_eq!(mount_at(c, MTLS_PATH).name, MTLS_SECRET);
        // The serving certificate needs no mapping: cert-manager's names are the expected ones.
        let tls = w.volume(TLS_SECRET).secret.as_ref().unwrap();
        assert_eq!(tls.secret_name.as_deref(), Some(TLS_SECRET));
    }
}
