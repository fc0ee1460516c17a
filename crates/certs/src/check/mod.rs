//! `repoctl certs check`: a mounted `argocd-repo-server-mtls` directory (and optionally the
//! `argocd-repo-server-tls` one) checked end to end, the way the repo-server and its clients
//! will use it.

mod client;
mod load;
mod server;

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::finding::{Finding, Report};

/// Arguments of `repoctl certs check`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
#[command(after_help = "\
In the repo-server pod only client-ca.crt is mounted, in client pods only client.crt, client.key
and server-ca.crt: checks that need a missing file are skipped with a note. To check everything,
extract the Secrets into directories, e.g. with
  kubectl -n argocd extract secret/argocd-repo-server-mtls --to=mtls
  kubectl -n argocd extract secret/argocd-repo-server-tls --to=tls
  repoctl certs check mtls --tls-dir tls
Exits with 1 when a problem is found.")]
pub struct Check {
    /// The argocd-repo-server-mtls directory: client-ca.crt, client.crt, client.key,
    /// server-ca.crt (and <short>-client.crt/.key pairs, if any).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The argocd-repo-server-tls directory (tls.crt, tls.key): check the serving certificate too.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// The name clients dial: the serving certificate must be valid for it.
    #[arg(long, value_name = "NAME", default_value = "argocd-repo-server")]
    pub server_name: String,
}

impl Check {
    /// Defaults for checking `dir`, as the command line has them.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            tls_dir: None,
            server_name: "argocd-repo-server".into(),
        }
    }
}

/// Runs every check that the files present allow. A clean result has no
/// [`Level::Error`](crate::Level::Error).
pub fn check(args: &Check) -> Vec<Finding> {
    let mut r = Report::default();
    let now = OffsetDateTime::now_utc();
    let dir = args.dir.as_path();
    if !dir.is_dir() {
        r.error(
            dir,
            "not a directory; pass where argocd-repo-server-mtls is mounted (/app/config/reposerver/mtls)",
        );
        return r.0;
    }
    let client_ca_path = dir.join("client-ca.crt");
    let server_ca_path = dir.join("server-ca.crt");
    let ids = client::identities(dir);
    if !client_ca_path.exists() && !server_ca_path.exists() && ids.is_empty() {
        r.error(
            dir,
            "no client-ca.crt, client.crt, client.key or server-ca.crt: the Secret is not mounted here, so mTLS is off",
        );
    }

    let client_ca = load::certs(&mut r, &client_ca_path, now);
    let bundle = client_ca.as_ref().and_then(|ca| client::bundle(&mut r, ca));
    let trust = bundle.as_ref().map(|b| (b, client_ca_path.as_path()));
    for (cert, key) in &ids {
        client::identity(&mut r, cert, key, trust, now);
    }
    let server_ca = load::certs(&mut r, &server_ca_path, now);
    if let Some(ca) = &server_ca {
        server::ca(&mut r, ca);
    }
    if let Some(tls_dir) = &args.tls_dir {
        server::serving(&mut r, args, tls_dir, server_ca.as_ref(), now);
    }
    r.0
}
