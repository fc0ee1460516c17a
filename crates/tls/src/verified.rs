//! Chains a verifier has already accepted. Upstream's components open a connection per call,
//! presenting the same certificate each time; re-checking the CA's signature on it costs a
//! public-key operation per handshake for nothing. What is remembered is only "this exact
//! chain (by SHA-256) passed every check of this verifier", with the validity window of the
//! chain: a remembered chain outside it goes through the full verification again. The cache belongs to one verifier, so a
//! reload of the client CA or CRLs starts from empty; the client's proof of possession (its
//! CertificateVerify signature) is checked on every handshake regardless.

use std::collections::HashMap;

use parking_lot::Mutex;
use rustls::{CertificateError, Error};
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest, Sha256};
use x509_parser::prelude::X509Certificate;

/// Chains remembered at most; the cache is emptied when full (a rare, cheap reset).
const CAPACITY: usize = 1024;

/// When a chain is valid, in seconds since the Unix epoch (the intersection of its members').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    not_before: i64,
    not_after: i64,
}

impl Window {
    pub(crate) fn new(not_before: i64, not_after: i64) -> Self {
        Self {
            not_before,
            not_after,
        }
    }

    /// The part of both windows.
    pub(crate) fn and(self, other: Self) -> Self {
        Self {
            not_before: self.not_before.max(other.not_before),
            not_after: self.not_after.min(other.not_after),
        }
    }

    pub(crate) fn single(cert: &X509Certificate<'_>) -> Self {
        let validity = cert.validity();
        Self {
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        }
    }

    /// The same judgement webpki makes: valid from `not_before` through `not_after`.
    pub(crate) fn check(&self, now: UnixTime) -> Result<(), Error> {
        let now = now.as_secs() as i64;
        if now < self.not_before {
            Err(CertificateError::NotValidYet.into())
        } else if now > self.not_after {
            Err(CertificateError::Expired.into())
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Verified {
    chains: Mutex<HashMap<[u8; 32], Window>>,
}

/// The identity of a presented chain: every certificate, length-prefixed, hashed.
pub(crate) fn key(leaf: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for der in std::iter::once(leaf).chain(intermediates) {
        hash.update((der.len() as u64).to_be_bytes());
        hash.update(der.as_ref());
    }
    hash.finalize().into()
}

impl Verified {
    /// Whether the chain was accepted before and is within its validity window at `now`.
    pub(crate) fn valid(&self, key: &[u8; 32], now: UnixTime) -> bool {
        self.chains
            .lock()
            .get(key)
            .is_some_and(|window| window.check(now).is_ok())
    }

    /// Remembers a chain that has just passed every check.
    pub(crate) fn insert(&self, key: [u8; 32], window: Window) {
        let mut chains = self.chains.lock();
        if chains.len() >= CAPACITY {
            chains.clear();
        }
        chains.insert(key, window);
    }
}
