//! deploy/argocd on an Argo CD install: our repo-server in place of upstream's, and the client
//! side of every component wired.

use crate::support::invariants::check;
use crate::support::objects::Rendered;
use crate::support::pod::{assert_cmd_param, env, items, mount_at};
use crate::support::setup::{render_dir, Install, Layout, Setup};
use crate::support::{clients, Client, IMAGE, MTLS_PATH, MTLS_SECRET, REPO_SERVER, TLS_SECRET};

fn argocd(install: Install) -> Option<Rendered> {
    Setup::new(install, Layout::Argocd, &[]).render()
}

/// The client's mTLS volume (name, secret, optional, items), mount and three settings.
pub(crate) fn assert_client_wired(
    r: &Rendered,
    client: &Client,
    secret: &str,
    keys: [(&str, &str); 3],
) {
    let w = r.workload(client.kind, client.name);
    let id = format!("{}: {}", r.label, w.id());
    let volume = w.volume(MTLS_SECRET);
    let source = volume
        .secret
        .as_ref()
        .unwrap_or_else(|| panic!("{id}: {MTLS_SECRET} is not a Secret volume"));
    assert_eq!(source.secret_name.as_deref(), Some(secret), "{id}: Secret");
    assert_eq!(source.optional, Some(true), "{id}: optional");
    assert_eq!(items(&source.items), keys, "{id}: items");

    let c = w.container(client.name);
    let mount = mount_at(c, MTLS_PATH);
    assert_eq!(mount.name, MTLS_SECRET, "{id}: mount");
    assert!(mount.sub_path.is_none(), "{id}: subPath");
    for (suffix, key) in [
        ("CA_CERT_PATH", "ca.cert.path"),
        ("CLIENT_CERT_PATH", "client.cert.path"),
        ("CLIENT_CERT_KEY_PATH", "client.cert.key.path"),
    ] {
        assert_cmd_param(
            c,
            &format!("ARGOCD_{}_REPO_SERVER_{suffix}", client.env),
            &format!("{}.repo.server.{key}", client.cm),
        );
    }
}

pub(crate) const SHARED_ITEMS: [(&str, &str); 3] = [
    ("client.crt", "client.crt"),
    ("client.key", "client.key"),
    ("server-ca.crt", "server-ca.crt"),
];

#[test]
fn argocd_replaces_upstreams_repo_server_with_base_unchanged() {
    let Some(base) = render_dir("base") else {
        return;
    };
    for install in Install::ALL {
        let Some(r) = argocd(install) else { return };
        check(&r);
        let c = r.workload("Deployment", REPO_SERVER).container(REPO_SERVER);
        assert_eq!(c.image.as_deref(), Some(IMAGE), "{}", r.label);
        // Every object of deploy/base arrives exactly as base renders it: nothing of
        // upstream's repo-server (image, args, labels) leaks into ours.
        for (kind, name) in base.ids() {
            assert_eq!(
                r.document(&kind, &name),
                base.document(&kind, &name),
                "{}: {kind}/{name} differs from deploy/base",
                r.label
            );
        }
    }
}

#[test]
fn argocd_wires_every_client() {
    for install in Install::ALL {
        let Some(r) = argocd(install) else { return };
        for client in clients(install) {
            assert_client_wired(&r, client, MTLS_SECRET, SHARED_ITEMS);
        }
    }
}

#[test]
fn argocd_wires_the_controller_deployment_variant() {
    let Some(r) = argocd(Install::ControllerDeployment) else {
        return;
    };
    let deployment = crate::support::CLIENTS
        .iter()
        .find(|c| c.kind == "Deployment" && c.name == "argocd-application-controller")
        .unwrap();
    assert_client_wired(&r, deployment, MTLS_SECRET, SHARED_ITEMS);
    // The variant's scaled-down StatefulSet is wired too (it may be scaled back up).
    assert_eq!(
        r.statefulset("argocd-application-controller").spec.replicas,
        Some(0)
    );
}

#[test]
fn argocd_adds_nothing_but_the_repo_server_to_an_install() {
    for install in Install::ALL {
        let Some(fixture) = render_dir(install.dir()) else {
            return;
        };
        let Some(r) = argocd(install) else { return };
        // Same objects: patches for absent workloads (the controller Deployment on a default
        // install) must not create them.
        assert_eq!(r.ids(), fixture.ids(), "{}", r.label);
    }
}

#[test]
fn argocd_keeps_the_installs_own_configuration() {
    let Some(r) = argocd(Install::Default) else {
        return;
    };
    // argocd-server arrives with part of the wiring (as in Argo CD 3.5) plus settings of its
    // own; the merge must keep them and not duplicate anything.
    let w = r.workload("Deployment", "argocd-server");
    let c = w.container("argocd-server");
    assert_cmd_param(c, "ARGOCD_SERVER_REPO_SERVER", "repo.server");
    assert_eq!(mount_at(c, "/app/config/server/tls").name, TLS_SECRET);
    assert!(w.volume(TLS_SECRET).secret.is_some());
    assert_eq!(
        c.args.as_deref(),
        Some(&["/usr/local/bin/argocd-server".to_string()][..])
    );
    // The controller keeps its legacy strict-TLS mount next to the new one.
    let w = r.workload("StatefulSet", "argocd-application-controller");
    let c = w.container("argocd-application-controller");
    assert_eq!(mount_at(c, "/app/config/controller/tls").name, TLS_SECRET);
    assert!(
        env(c, "ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER_CA_CERT_PATH")
            .value_from
            .is_some()
    );
}

/// deploy/testdata/install: what the operator writes, with a namespace.
#[test]
fn install_example_builds_into_one_namespace() {
    let Some(r) = render_dir("testdata/install") else {
        return;
    };
    check(&r);
    for object in &r.objects {
        assert_eq!(
            object.namespace(),
            Some("argocd"),
            "{} {}",
            object.kind(),
            object.name()
        );
    }
    for client in clients(Install::Default) {
        assert_client_wired(&r, client, MTLS_SECRET, SHARED_ITEMS);
    }
}
