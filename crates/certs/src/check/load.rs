//! Reading the mounted files: certificates with their validity, keys, and whether they pair up.

use std::path::{Path, PathBuf};

use repo_tls::FileIdentity;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::dates::{date, day_count};
use crate::finding::Report;
use crate::{Summary, Warning};

/// A certificate file that parsed.
pub(super) struct Certs {
    pub path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub summaries: Vec<Summary>,
}

impl Certs {
    pub(super) fn leaf(&self) -> &Summary {
        &self.summaries[0]
    }

    /// Names certificate `i` by subject, numbered when the file holds several.
    pub(super) fn label(&self, i: usize) -> String {
        let subject = &self.summaries[i].subject;
        if self.summaries.len() > 1 {
            format!("#{} {subject}", i + 1)
        } else {
            subject.clone()
        }
    }
}

/// Reads a certificate file and reports each certificate's validity. `None` when the file is
/// absent or broken (reported).
pub(super) fn certs(r: &mut Report, path: &Path, now: OffsetDateTime) -> Option<Certs> {
    if !path.exists() {
        return None;
    }
    let chain = match repo_tls::read_chain(path) {
        Ok(chain) => chain,
        Err(e) => {
            r.error(path, e.to_string());
            return None;
        }
    };
    let mut summaries = Vec::with_capacity(chain.len());
    for (i, der) in chain.iter().enumerate() {
        match Summary::parse(der, path, i, now) {
            Ok(s) => summaries.push(s),
            Err(e) => {
                r.error(path, e.to_string());
                return None;
            }
        }
    }
    let certs = Certs {
        path: path.to_path_buf(),
        chain,
        summaries,
    };
    for (i, s) in certs.summaries.iter().enumerate() {
        let who = certs.label(i);
        let until = date(s.not_after);
        let dates = s.warnings.iter().find(|w| {
            matches!(
                w,
                Warning::Expired { .. } | Warning::NotYetValid { .. } | Warning::ExpiresSoon { .. }
            )
        });
        match dates {
            Some(w @ Warning::ExpiresSoon { .. }) => {
                r.warn(path, format!("{who} {w} (on {until})"))
            }
            Some(w) => r.error(
                path,
                format!("{who} {w} (valid {} to {until})", date(s.not_before)),
            ),
            None => r.ok(
                path,
                format!(
                    "{who} valid until {until} ({} left)",
                    day_count(s.days_left)
                ),
            ),
        }
    }
    Some(certs)
}

/// Reads a private key and makes sure the crypto provider can sign with it.
pub(super) fn key(r: &mut Report, path: &Path) -> bool {
    let loaded = repo_tls::read_key(path)
        .map_err(|e| e.to_string())
        .and_then(|der| {
            repo_tls::provider()
                .key_provider
                .load_private_key(der)
                .map_err(|e| format!("unsupported private key: {e}"))
        });
    match loaded {
        Ok(_) => true,
        Err(e) => {
            r.error(path, e);
            false
        }
    }
}

/// Whether the key belongs to the certificate, checked by the loader the components use.
pub(super) fn key_matches(r: &mut Report, cert: &Path, key: &Path) {
    match FileIdentity::new(cert, key).current() {
        Ok(_) => r.ok(key, format!("matches {}", name(cert))),
        Err(e) => r.error(key, e.to_string()),
    }
}

pub(super) fn name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}
