//! The components of deploy/components, each on top of deploy/argocd.

use crate::argocd::{assert_client_wired, SHARED_ITEMS};
use crate::support::invariants::check;
use crate::support::pod::{assert_cmd_param, assert_literal, env, items, mount_at};
use crate::support::setup::{Extra, Install, Layout, Setup};
use crate::support::{clients, read, MTLS_SECRET, POLICY_DIR, REPO_SERVER};

/// The repo-server's own mTLS volume, which no client layout may touch.
fn assert_repo_server_mtls_untouched(r: &crate::support::objects::Rendered) {
    let w = r.workload("Deployment", REPO_SERVER);
    let secret = w
        .volume(MTLS_SECRET)
        .secret
        .as_ref()
        .expect("Secret volume");
    assert_eq!(
        secret.secret_name.as_deref(),
        Some(MTLS_SECRET),
        "{}",
        r.label
    );
    assert_eq!(
        items(&secret.items),
        [
            ("client-ca.crt", "client-ca.crt"),
            ("client-crl.pem", "client-crl.pem")
        ],
        "{}",
        r.label
    );
}

#[test]
fn shared_layout_is_what_argocd_already_does() {
    for install in Install::ALL {
        let Some(plain) = Setup::new(install, Layout::Argocd, &[]).render() else {
            return;
        };
        let Some(shared) = Setup::new(install, Layout::Shared, &[]).render() else {
            return;
        };
        assert_eq!(shared.documents, plain.documents, "{}", shared.label);
    }
}

#[test]
fn per_component_keys_project_each_components_pair() {
    for install in Install::ALL {
        let Some(r) = Setup::new(install, Layout::PerComponentKeys, &[]).render() else {
            return;
        };
        check(&r);
        for client in clients(install) {
            let crt = format!("{}-client.crt", client.short);
            let key = format!("{}-client.key", client.short);
            assert_client_wired(
                &r,
                client,
                MTLS_SECRET,
                [
                    (&crt, "client.crt"),
                    (&key, "client.key"),
                    ("server-ca.crt", "server-ca.crt"),
                ],
            );
        }
        assert_repo_server_mtls_untouched(&r);
    }
}

#[test]
fn per_component_secrets_replace_the_volumes_secret() {
    for install in Install::ALL {
        let Some(r) = Setup::new(install, Layout::PerComponentSecrets, &[]).render() else {
            return;
        };
        // check() also proves there is still one volume on the mTLS path.
        check(&r);
        for client in clients(install) {
            let secret = format!("{MTLS_SECRET}-{}", client.short);
            assert_client_wired(&r, client, &secret, SHARED_ITEMS);
        }
        assert_repo_server_mtls_untouched(&r);
    }
}

#[test]
fn authorization_mounts_the_example_policy_and_points_at_it() {
    let Some(r) = Setup::new(Install::Default, Layout::Argocd, &[Extra::Authorization]).render()
    else {
        return;
    };
    check(&r);
    let cm = r.config_map("argocd-repo-server-authorization");
    let data = cm.data.as_ref().expect("policy data");
    assert_eq!(data.keys().collect::<Vec<_>>(), ["policy.yaml"]);
    assert_eq!(
        data["policy.yaml"],
        read("deploy/examples/authorization-policy.yaml")
    );

    let w = r.workload("Deployment", REPO_SERVER);
    let volume = w.volume("argocd-repo-server-authorization");
    let source = volume.config_map.as_ref().expect("ConfigMap volume");
    // The fixed name (no hash suffix) is what lets edits apply live instead of rolling pods.
    assert_eq!(source.name, "argocd-repo-server-authorization");
    let c = w.container(REPO_SERVER);
    let mount = mount_at(c, POLICY_DIR);
    assert_eq!(mount.name, "argocd-repo-server-authorization");
    assert!(mount.sub_path.is_none());
    assert_literal(
        c,
        "ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH",
        &format!("{POLICY_DIR}/policy.yaml"),
    );
    // Everything else still comes from argocd-cmd-params-cm.
    assert_cmd_param(
        c,
        "ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE",
        "reposerver.client.auth.mode",
    );
}

/// kustomize may not read outside the component, so the policy is a copy; it must stay one.
#[test]
fn authorization_component_policy_is_the_example() {
    assert_eq!(
        read("deploy/components/authorization/policy.yaml"),
        read("deploy/examples/authorization-policy.yaml"),
        "copy deploy/examples/authorization-policy.yaml to deploy/components/authorization/policy.yaml"
    );
}

#[test]
fn permissive_sets_the_client_auth_mode() {
    let Some(r) = Setup::new(Install::Default, Layout::Argocd, &[Extra::Permissive]).render()
    else {
        return;
    };
    check(&r);
    let c = r.workload("Deployment", REPO_SERVER).container(REPO_SERVER);
    assert_literal(c, "ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE", "permissive");
    assert_cmd_param(
        c,
        "ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH",
        "reposerver.authorization.policy.path",
    );
}

/// The combination the example policy is written for: per-component identities, enforced.
#[test]
fn per_component_keys_with_authorization() {
    let Some(r) = Setup::new(
        Install::ControllerDeployment,
        Layout::PerComponentKeys,
        &[Extra::Authorization],
    )
    .render() else {
        return;
    };
    check(&r);
    for client in clients(Install::ControllerDeployment) {
        let w = r.workload(client.kind, client.name);
        let secret = w.volume(MTLS_SECRET).secret.as_ref().unwrap();
        assert_eq!(
            items(&secret.items)[0].0,
            format!("{}-client.crt", client.short)
        );
    }
    let c = r.workload("Deployment", REPO_SERVER).container(REPO_SERVER);
    assert!(env(c, "ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH")
        .value
        .is_some());
    assert_repo_server_mtls_untouched(&r);
}
