//! The client side of the mount: identities, and the client-CA bundle the repo-server trusts.

use std::path::{Path, PathBuf};

use repo_tls::{Bundle, Reason};
use time::OffsetDateTime;

use super::load::{certs, key, key_matches, name, Certs};
use crate::chain::{self, Outcome};
use crate::finding::Report;

/// The client identities in the directory: `client.crt`/`client.key`, and the
/// `<short>-client.crt`/`.key` pairs of a per-component-keys Secret.
pub(super) fn identities(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut stems = vec!["client".to_string()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut more: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stem = name
                    .strip_suffix(".crt")
                    .or_else(|| name.strip_suffix(".key"))?;
                (stem.ends_with("-client") && !stem.starts_with('.')).then(|| stem.to_string())
            })
            .collect();
        more.sort();
        more.dedup();
        stems.extend(more);
    }
    stems
        .into_iter()
        .map(|s| (dir.join(format!("{s}.crt")), dir.join(format!("{s}.key"))))
        .filter(|(c, k)| c.exists() || k.exists())
        .collect()
}

/// The client-CA bundle as the repo-server loads it.
pub(super) fn bundle(r: &mut Report, ca: &Certs) -> Option<Bundle> {
    for (i, s) in ca.summaries.iter().enumerate() {
        if let Some(why) = s.ca_problem() {
            r.warn(
                &ca.path,
                format!("{} is skipped by the repo-server: {why}", ca.label(i)),
            );
        }
    }
    match Bundle::load(&ca.path) {
        Ok(bundle) => {
            r.ok(
                &ca.path,
                format!(
                    "the repo-server trusts {} CA(s) and requires client certificates",
                    bundle.len()
                ),
            );
            Some(bundle)
        }
        Err(e) => {
            r.error(&ca.path, e.to_string());
            None
        }
    }
}

/// Checks one identity: both files, their pairing, the EKU and the chain.
pub(super) fn identity(
    r: &mut Report,
    cert: &Path,
    key_path: &Path,
    trust: Option<(&Bundle, &Path)>,
    now: OffsetDateTime,
) {
    let has_key = key_path.exists();
    if !cert.exists() {
        r.error(
            cert,
            format!(
                "missing while {} exists; add both to the Secret or neither",
                name(key_path)
            ),
        );
        key(r, key_path);
        return;
    }
    if !has_key {
        r.error(
            key_path,
            format!(
                "missing while {} exists; add both to the Secret or neither",
                name(cert)
            ),
        );
    }
    let certs = certs(r, cert, now);
    let key_ok = has_key && key(r, key_path);
    let Some(certs) = certs else { return };
    if key_ok {
        key_matches(r, cert, key_path);
    }
    if !certs.leaf().allows("clientAuth") {
        r.error(
            cert,
            "extendedKeyUsage lacks clientAuth, so the repo-server refuses it; reissue it with clientAuth",
        );
        r.note(cert, "chain not verified: fix the extendedKeyUsage first");
        return;
    }
    r.ok(cert, "extendedKeyUsage allows clientAuth");
    let Some((bundle, ca_path)) = trust else {
        r.note(
            cert,
            "chain not verified: no usable client-ca.crt here (client pods do not mount it; see --help)",
        );
        return;
    };
    let ca = name(ca_path);
    match chain::client(bundle, &certs.chain, certs.leaf()) {
        Ok(Outcome::Verified) => r.ok(
            cert,
            format!("accepted by {ca}, exactly as the repo-server verifies it"),
        ),
        Ok(Outcome::VerifiedApartFromDates) => r.ok(
            cert,
            format!("chains to {ca} (its dates are reported above)"),
        ),
        Ok(Outcome::Refused(err)) => {
            let reason = Reason::of(&err);
            let fix = match reason {
                Reason::UnknownCa | Reason::BadSignature => {
                    format!("; issue it from the CA in {ca}, or add its CA to {ca}")
                }
                _ => String::new(),
            };
            r.error(
                cert,
                format!(
                    "the repo-server refuses it: {} ({err}){fix}",
                    reason.describe()
                ),
            );
        }
        Err(e) => r.error(ca_path, e.to_string()),
    }
}
