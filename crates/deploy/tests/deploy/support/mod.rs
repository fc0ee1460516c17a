//! Shared by the manifest tests: running kustomize, the typed objects, the combinations.

pub(crate) mod invariants;
pub(crate) mod kustomize;
pub(crate) mod objects;
pub(crate) mod pod;
pub(crate) mod setup;

pub(crate) const REPO_SERVER: &str = "argocd-repo-server";
pub(crate) const IMAGE: &str = "ghcr.io/argocd-rs/argocd-repo-server:latest";
pub(crate) const MTLS_SECRET: &str = "argocd-repo-server-mtls";
pub(crate) const TLS_SECRET: &str = "argocd-repo-server-tls";
pub(crate) const MTLS_PATH: &str = "/app/config/reposerver/mtls";
pub(crate) const TLS_PATH: &str = "/app/config/reposerver/tls";
pub(crate) const POLICY_DIR: &str = "/app/config/reposerver/authorization";

/// An Argo CD component that calls the repo-server, as upstream names it.
pub(crate) struct Client {
    pub kind: &'static str,
    /// Object and container name.
    pub name: &'static str,
    /// Per-component Secret and key suffix (`argocd-repo-server-mtls-<short>`).
    pub short: &'static str,
    /// `ARGOCD_<env>_REPO_SERVER_…`
    pub env: &'static str,
    /// `<cm>.repo.server.…` in argocd-cmd-params-cm.
    pub cm: &'static str,
}

pub(crate) const CLIENTS: [Client; 5] = [
    Client {
        kind: "Deployment",
        name: "argocd-server",
        short: "server",
        env: "SERVER",
        cm: "server",
    },
    Client {
        kind: "StatefulSet",
        name: "argocd-application-controller",
        short: "controller",
        env: "APPLICATION_CONTROLLER",
        cm: "controller",
    },
    Client {
        kind: "Deployment",
        name: "argocd-application-controller",
        short: "controller",
        env: "APPLICATION_CONTROLLER",
        cm: "controller",
    },
    Client {
        kind: "Deployment",
        name: "argocd-applicationset-controller",
        short: "applicationset",
        env: "APPLICATIONSET_CONTROLLER",
        cm: "applicationsetcontroller",
    },
    Client {
        kind: "Deployment",
        name: "argocd-notifications-controller",
        short: "notifications",
        env: "NOTIFICATION_CONTROLLER",
        cm: "notificationscontroller",
    },
];

/// The clients an install contains: the controller's Deployment only in that variant.
pub(crate) fn clients(install: setup::Install) -> impl Iterator<Item = &'static Client> {
    CLIENTS.iter().filter(move |c| {
        install == setup::Install::ControllerDeployment
            || !(c.kind == "Deployment" && c.name == "argocd-application-controller")
    })
}

/// The file under the repository root, as text.
pub(crate) fn read(path: &str) -> String {
    let full = kustomize::repo().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}
