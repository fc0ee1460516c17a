//! The server side: `server-ca.crt`, and the serving certificate of `--tls-dir` as strict
//! clients verify it.

use std::path::Path;

use repo_tls::rustls::{CertificateError, RootCertStore};
use rustls_pki_types::ServerName;
use time::OffsetDateTime;

use super::load::{certs, key, key_matches, name, Certs};
use super::Check;
use crate::chain::{self, Outcome};
use crate::finding::Report;

/// Each certificate of `server-ca.crt` should be a CA.
pub(super) fn ca(r: &mut Report, ca: &Certs) {
    for (i, s) in ca.summaries.iter().enumerate() {
        match s.ca_problem() {
            // Still usable as a trust anchor, but only for exactly this certificate.
            Some(why) => r.warn(
                &ca.path,
                format!(
                    "{} is not a CA ({why}); clients can trust it only if it is the serving certificate itself",
                    ca.label(i)
                ),
            ),
            None => r.ok(&ca.path, format!("{} is a CA clients can verify the repo-server with", ca.label(i))),
        }
    }
}

/// The serving certificate: key, EKU, names and chain.
pub(super) fn serving(
    r: &mut Report,
    args: &Check,
    dir: &Path,
    server_ca: Option<&Certs>,
    now: OffsetDateTime,
) {
    let cert = dir.join("tls.crt");
    let key_path = dir.join("tls.key");
    for path in [&cert, &key_path] {
        if !path.exists() {
            r.error(path, "missing; mount the argocd-repo-server-tls Secret here, or pass its directory to --tls-dir");
        }
    }
    let certs = certs(r, &cert, now);
    if key_path.exists() && key(r, &key_path) && certs.is_some() {
        key_matches(r, &cert, &key_path);
    }
    let Some(certs) = certs else { return };
    let leaf = certs.leaf();
    if !leaf.allows("serverAuth") {
        r.error(
            &cert,
            "extendedKeyUsage lacks serverAuth, so clients refuse it; reissue it with serverAuth",
        );
        return;
    }
    if leaf.version < 3 || leaf.sans.is_empty() {
        r.error(
            &cert,
            format!(
                "no subjectAltName, so clients that verify the repo-server cannot match {}; reissue it with DNS:{} (`repoctl certs init` does)",
                args.server_name, args.server_name
            ),
        );
        return;
    }
    let fallback = dir.join("ca.crt");
    let (roots_path, roots) = match server_ca {
        Some(ca) => (ca.path.clone(), ca.chain.clone()),
        None if fallback.exists() => match repo_tls::read_chain(&fallback) {
            Ok(chain) => {
                r.note(
                    &fallback,
                    "server-ca.crt is absent; verifying tls.crt against this ca.crt instead",
                );
                (fallback, chain)
            }
            Err(e) => {
                r.error(&fallback, e.to_string());
                return;
            }
        },
        None => {
            r.note(
                &cert,
                "chain not verified: no server-ca.crt (nor ca.crt next to tls.crt)",
            );
            return;
        }
    };
    let mut store = RootCertStore::empty();
    let (_, ignored) = store.add_parsable_certificates(roots);
    if ignored > 0 {
        r.warn(
            &roots_path,
            format!("{ignored} certificate(s) cannot be used as trust anchors"),
        );
    }
    let Ok(server_name) = ServerName::try_from(args.server_name.clone()) else {
        r.error(
            &cert,
            format!(
                "--server-name {:?} is not a DNS name or IP address",
                args.server_name
            ),
        );
        return;
    };
    let ca = name(&roots_path);
    let dialled = &args.server_name;
    match chain::server(store, &certs.chain, &server_name, leaf) {
        Ok(Outcome::Verified) => r.ok(&cert, format!("valid for {dialled} and chains to {ca}")),
        Ok(Outcome::VerifiedApartFromDates) => r.ok(
            &cert,
            format!("valid for {dialled} and chains to {ca} (its dates are reported above)"),
        ),
        Ok(Outcome::Refused(repo_tls::rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ))) => {
            let sans: Vec<_> = leaf.sans.iter().map(|s| s.to_string()).collect();
            r.error(
                &cert,
                format!(
                    "not valid for {dialled} (SANs: {}); reissue it with DNS:{dialled} (`repoctl certs init --dns-name {dialled}`), or pass the name clients dial to --server-name",
                    sans.join(", ")
                ),
            );
        }
        Ok(Outcome::Refused(err)) => r.error(
            &cert,
            format!("clients verifying it with {ca} refuse it: {err}"),
        ),
        Err(e) => r.error(&roots_path, e.to_string()),
    }
}
