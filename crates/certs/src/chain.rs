//! Chain verification as the two ends of the link do it: the repo-server's own client
//! verifier, and webpki with a hostname, as clients that verify the repo-server do.

use std::sync::Arc;

use repo_tls::rustls::client::danger::ServerCertVerifier;
use repo_tls::rustls::client::WebPkiServerVerifier;
use repo_tls::rustls::server::danger::ClientCertVerifier;
use repo_tls::rustls::{self, RootCertStore};
use repo_tls::{Bundle, ClientVerifier, Reason};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::Summary;

/// The result of verifying a chain.
#[derive(Debug)]
pub(crate) enum Outcome {
    Verified,
    /// Refused now only because of a validity period (reported on its own); verified at a
    /// moment inside the leaf's validity, so the chain itself is sound.
    VerifiedApartFromDates,
    Refused(rustls::Error),
}

fn is_dates(err: &rustls::Error) -> bool {
    // The leaf's own dates or a CA's (an intermediate's or the bundle's).
    matches!(
        Reason::of(err),
        Reason::Expired | Reason::NotYetValid | Reason::ExpiredCa | Reason::NotYetValidCa
    )
}

fn midpoint(leaf: &Summary) -> UnixTime {
    let start = leaf.not_before.unix_timestamp();
    let end = leaf.not_after.unix_timestamp();
    let mid = start + (end - start) / 2;
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(mid.max(0).unsigned_abs()))
}

fn run(leaf: &Summary, verify: impl Fn(UnixTime) -> Result<(), rustls::Error>) -> Outcome {
    match verify(UnixTime::now()) {
        Ok(()) => Outcome::Verified,
        Err(err) if is_dates(&err) => match verify(midpoint(leaf)) {
            // A CA's dates need not cover the leaf's midpoint; they are reported on their own.
            Ok(()) => Outcome::VerifiedApartFromDates,
            Err(again) if is_dates(&again) => Outcome::VerifiedApartFromDates,
            // The dates are reported on their own; what is left is the chain's real problem.
            Err(again) => Outcome::Refused(again),
        },
        Err(err) => Outcome::Refused(err),
    }
}

/// Verifies a client chain (leaf first) as the repo-server does with this bundle.
pub(crate) fn client(
    bundle: &Bundle,
    chain: &[CertificateDer<'static>],
    leaf: &Summary,
) -> Result<Outcome, repo_tls::Error> {
    let verifier = ClientVerifier::new(bundle)?;
    Ok(run(leaf, |now| {
        verifier
            .verify_client_cert(&chain[0], &chain[1..], now)
            .map(|_| ())
    }))
}

/// Verifies a serving chain (leaf first) against `roots` for `name`, as a strict client does.
pub(crate) fn server(
    roots: RootCertStore,
    chain: &[CertificateDer<'static>],
    name: &ServerName<'_>,
    leaf: &Summary,
) -> Result<Outcome, repo_tls::Error> {
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), repo_tls::provider())
            .build()
            .map_err(|e| repo_tls::Error::Settings(format!("server verifier: {e}")))?;
    Ok(run(leaf, |now| {
        verifier
            .verify_server_cert(&chain[0], &chain[1..], name, &[], now)
            .map(|_| ())
    }))
}
