//! Who gets which certificate and how the Secrets carry them: the shared identity, and the two
//! per-component layouts of the operator manual (per-component keys in one Secret, or one Secret
//! per component).

use crate::authority::Pair;
use crate::secret::{Kind, Secret};

/// Subject CN of the CA `init` creates.
pub const CA_CN: &str = "argocd-repo-server-ca";
/// Subject CN of the repo-server's serving certificate.
pub const SERVER_CN: &str = "argocd-repo-server";
/// Subject CN of the identity all components share (without `--per-component`).
pub const CLIENT_CN: &str = "argocd-repo-server-client";
/// The optional Secret mounted at `/app/config/reposerver/mtls`.
pub const MTLS_SECRET: &str = "argocd-repo-server-mtls";
/// The Secret holding the repo-server's serving certificate.
pub const TLS_SECRET: &str = "argocd-repo-server-tls";

/// An Argo CD component that calls the repo-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Workload and service-account name; the CN of its certificate.
    pub name: &'static str,
    /// The short name in Secret keys and names (`<short>-client.crt`, `argocd-repo-server-mtls-<short>`).
    pub short: &'static str,
}

/// The repo-server's clients, in the operator manual's order.
pub const COMPONENTS: [Component; 4] = [
    Component {
        name: "argocd-server",
        short: "server",
    },
    Component {
        name: "argocd-application-controller",
        short: "controller",
    },
    Component {
        name: "argocd-applicationset-controller",
        short: "applicationset",
    },
    Component {
        name: "argocd-notifications-controller",
        short: "notifications",
    },
];

impl Component {
    /// The SPIFFE-style identity of the component's service account, carried as a URI SAN.
    pub fn spiffe(&self, namespace: &str) -> String {
        format!("spiffe://cluster.local/ns/{namespace}/sa/{}", self.name)
    }
}

/// DNS names every serving certificate carries: the Service, in short and qualified forms,
/// and loopback for the liveness probe.
pub fn server_names(namespace: &str) -> Vec<String> {
    vec![
        SERVER_CN.to_string(),
        format!("{SERVER_CN}.{namespace}.svc"),
        format!("{SERVER_CN}.{namespace}.svc.cluster.local"),
        "localhost".to_string(),
    ]
}

/// The serving Secret; `ca.crt` lets clients that still use the legacy strict mode verify it.
fn tls(ca: &str, server: &Pair) -> Secret {
    Secret::new(TLS_SECRET, Kind::Tls)
        .with("tls.crt", &server.cert)
        .with("tls.key", &server.key)
        .with("ca.crt", ca)
}

/// One identity for every component. The same CA issues client and server certificates, so it
/// is both `client-ca.crt` and `server-ca.crt`.
pub(crate) fn shared(ca: &str, server: &Pair, client: &Pair) -> Vec<Secret> {
    vec![
        Secret::new(MTLS_SECRET, Kind::Opaque)
            .with("client-ca.crt", ca)
            .with("client.crt", &client.cert)
            .with("client.key", &client.key)
            .with("server-ca.crt", ca),
        tls(ca, server),
    ]
}

/// Option A: one Secret with `<short>-client.crt|key` entries, which each workload projects to
/// `client.crt`/`client.key` with volume `items`.
pub(crate) fn per_component_keys(
    ca: &str,
    server: &Pair,
    clients: &[(Component, Pair)],
) -> Vec<Secret> {
    let mut mtls = Secret::new(MTLS_SECRET, Kind::Opaque)
        .with("client-ca.crt", ca)
        .with("server-ca.crt", ca);
    for (c, pair) in clients {
        mtls = mtls
            .with(format!("{}-client.crt", c.short), &pair.cert)
            .with(format!("{}-client.key", c.short), &pair.key);
    }
    vec![mtls, tls(ca, server)]
}

/// Option B: the repo-server keeps `argocd-repo-server-mtls` for its `client-ca.crt`; each
/// component mounts its own `argocd-repo-server-mtls-<short>` instead.
pub(crate) fn per_secret(ca: &str, server: &Pair, clients: &[(Component, Pair)]) -> Vec<Secret> {
    let mut secrets = vec![Secret::new(MTLS_SECRET, Kind::Opaque).with("client-ca.crt", ca)];
    for (c, pair) in clients {
        secrets.push(
            Secret::new(format!("{MTLS_SECRET}-{}", c.short), Kind::Opaque)
                .with("client.crt", &pair.cert)
                .with("client.key", &pair.key)
                .with("server-ca.crt", ca),
        );
    }
    secrets.push(tls(ca, server));
    secrets
}
