//! Proof that a request's credentials may read a repository, before anything cached from it is
//! served: a fact established by a real ref listing with those credentials and kept for the
//! ref cache's TTL. Without it, a request with no or wrong credentials could read a private
//! repository that another request fetched (upstream serves it from its caches).

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::Creds;

/// A one-way digest of a set of credentials, salted per process, so that the facts held in
/// memory do not reveal or confirm the secrets.
pub(crate) type Fingerprint = [u8; 32];

pub(crate) struct Grants {
    ttl: Duration,
    salt: [u8; 32],
    facts: Mutex<HashMap<(String, Fingerprint), Instant>>,
}

/// Facts remembered at most; the memory is emptied when full (a miss costs one listing).
const CAPACITY: usize = 65_536;

impl Grants {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            salt: salt(),
            facts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn fingerprint(&self, creds: &Creds) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(self.salt);
        for field in [
            creds.username.as_str(),
            &creds.password,
            &creds.bearer_token,
            &creds.ssh_private_key,
            &creds.tls_client_cert_data,
            &creds.tls_client_cert_key,
            &creds.known_hosts,
            &creds.github_app_private_key,
            &creds.github_app_enterprise_base_url,
        ] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
        h.update(creds.github_app_id.to_le_bytes());
        h.update(creds.github_app_installation_id.to_le_bytes());
        h.update([
            u8::from(creds.insecure),
            u8::from(creds.insecure_ignore_host_key),
        ]);
        h.finalize().into()
    }

    /// Whether these credentials listed the repository's refs within the TTL.
    pub(crate) fn holds(&self, key: &str, who: &Fingerprint) -> bool {
        self.facts
            .lock()
            .get(&(key.to_string(), *who))
            .is_some_and(|at| at.elapsed() < self.ttl)
    }

    pub(crate) fn grant(&self, key: &str, who: Fingerprint) {
        let mut facts = self.facts.lock();
        if facts.len() >= CAPACITY {
            facts.clear();
        }
        facts.insert((key.to_string(), who), Instant::now());
    }
}

/// 32 random bytes from the kernel; a fixed salt only if the kernel has none to give.
fn salt() -> [u8; 32] {
    use std::io::Read;
    let mut salt = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut salt));
    if read.is_err() {
        tracing::warn!("no /dev/urandom: credential fingerprints are unsalted");
    }
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_grant_is_per_repository_and_credentials_and_expires() {
        let grants = Grants::new(Duration::from_secs(60));
        let alice = grants.fingerprint(&Creds {
            username: "alice".into(),
            password: "right".into(),
            ..Creds::default()
        });
        let mallory = grants.fingerprint(&Creds {
            username: "alice".into(),
            password: "wrong".into(),
            ..Creds::default()
        });
        assert_ne!(alice, mallory);
        grants.grant("https://git.example/a", alice);
        assert!(grants.holds("https://git.example/a", &alice));
        assert!(!grants.holds("https://git.example/a", &mallory));
        assert!(!grants.holds("https://git.example/b", &alice));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!grants.holds("https://git.example/a", &alice), "expired");
    }
}
