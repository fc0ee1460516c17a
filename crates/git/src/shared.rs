//! Ref listings shared by the replicas (upstream's `git-refs` entries in Redis), for
//! repositories without credentials only. A shared listing answers, and proves that a request
//! without credentials may read the repository, on every replica: only a listing made without
//! credentials can prove that, and credentials never leave the replica, not even as a digest.
//!
//! The value is upstream's (`SetGitReferences`): JSON `[[name, target], …]`, a symbolic ref's
//! target as `ref: <name>`. Ours starts with an empty pair, which upstream's reader skips: an
//! entry without it (written by upstream's repo-server, perhaps with credentials, or its lock)
//! is a miss here.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use crate::{Creds, Error, Refs, Repo};

/// A shared-store operation in progress; boxed so [`SharedRefs`] stays object-safe.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where replicas share ref listings (the server's Redis). `url` is the repository's
/// normalized URL; values are opaque bytes ([`encode_refs`]). A store that cannot answer
/// behaves as a miss, and grants its lock (the caller then lists as it would alone).
pub trait SharedRefs: Send + Sync {
    /// The value stored for `url`; `None` on a miss or any failure.
    fn get<'a>(&'a self, url: &'a str) -> Pending<'a, Option<Vec<u8>>>;
    /// Stores `value` for `url`, to expire after `ttl`.
    fn put<'a>(&'a self, url: &'a str, value: Vec<u8>, ttl: Duration) -> Pending<'a, ()>;
    /// Takes the listing lock of `url` for `owner` unless someone holds it; it lapses after
    /// `ttl`.
    fn try_lock<'a>(&'a self, url: &'a str, owner: &'a str, ttl: Duration) -> Pending<'a, bool>;
    /// Releases the lock of `url` if `owner` still holds it.
    fn unlock<'a>(&'a self, url: &'a str, owner: &'a str) -> Pending<'a, ()>;
}

impl fmt::Debug for dyn SharedRefs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedRefs")
    }
}

/// The value stored for a listing: upstream's `git-refs` JSON, marked as ours.
pub fn encode_refs(refs: &Refs) -> Vec<u8> {
    let mut pairs: Vec<[&str; 2]> = vec![["", ""]];
    let head = refs.head.as_ref().map(|target| format!("ref: {target}"));
    if let Some(head) = &head {
        pairs.push(["HEAD", head]);
    }
    let branches = refs
        .branches
        .iter()
        .map(|(n, s)| (format!("refs/heads/{n}"), s));
    let tags = refs.tags.iter().map(|(n, s)| (format!("refs/tags/{n}"), s));
    let named: Vec<(String, &String)> = branches.chain(tags).collect();
    pairs.extend(named.iter().map(|(n, s)| [n.as_str(), s.as_str()]));
    pairs.extend(refs.other.iter().map(|(n, s)| [n.as_str(), s.as_str()]));
    serde_json::to_vec(&pairs).expect("strings serialize")
}

/// The listing in a stored value; `None` unless it is one of ours.
pub fn decode_refs(value: &[u8]) -> Option<Refs> {
    let pairs: Vec<[String; 2]> = serde_json::from_slice(value).ok()?;
    let (marker, pairs) = pairs.split_first()?;
    if !marker.iter().all(String::is_empty) {
        return None;
    }
    // As `git ls-remote --symref` prints them, so the one parser reads both.
    let mut listing = String::new();
    for [name, target] in pairs {
        if name.contains(['\t', '\n']) || target.contains(['\t', '\n']) {
            return None;
        }
        listing.push_str(target);
        listing.push('\t');
        listing.push_str(name);
        listing.push('\n');
    }
    Some(Refs::parse(listing.as_bytes()))
}

/// Whether a request's listing may be shared: no credentials at all, none in the URL either,
/// and nothing else of its own (a proxy, TLS or host-key settings) that could change what the
/// server answers.
pub(crate) fn anonymous(repo: &Repo) -> bool {
    repo.remote.userinfo.is_none() && *repo.creds == Creds::default()
}

/// The wait between looks at the store while another replica lists: doubling from the first
/// to the last.
const FIRST_POLL: Duration = Duration::from_millis(20);
const LAST_POLL: Duration = Duration::from_millis(250);

pub(crate) struct Sharing {
    refs: Arc<dyn SharedRefs>,
    /// How long a stored listing lives (upstream's `--revision-cache-expiration`).
    ttl: Duration,
    /// How long to wait for another replica's listing, and how long a lock lives; zero: no
    /// locking (upstream's `--revision-cache-lock-timeout`).
    lock_timeout: Duration,
}

/// Where waiting for another replica's listing left the caller.
enum Wait {
    Listed(Refs),
    Held(Held),
    /// The wait ran out, or locking is off: list without the lock.
    Free,
}

impl Sharing {
    pub(crate) fn new(refs: Arc<dyn SharedRefs>, ttl: Duration, lock_timeout: Duration) -> Self {
        Self {
            refs,
            ttl,
            lock_timeout,
        }
    }

    /// A listing another replica stored, or else `list`'s, stored for the others. One replica
    /// lists at a time; the others wait for its listing (upstream's
    /// `GetOrLockGitReferences`).
    pub(crate) async fn cached<F>(&self, url: &str, list: F) -> Result<Refs, Error>
    where
        F: Future<Output = Result<Refs, Error>>,
    {
        if let Some(refs) = self.get(url).await {
            return Ok(refs);
        }
        let held = match self.wait(url).await {
            Wait::Listed(refs) => return Ok(refs),
            Wait::Held(held) => {
                // The lock may be free because its holder has just stored a listing.
                if let Some(refs) = self.get(url).await {
                    held.release().await;
                    return Ok(refs);
                }
                Some(held)
            }
            Wait::Free => None,
        };
        let listed = self.fresh(url, list).await;
        if let Some(held) = held {
            held.release().await;
        }
        listed
    }

    /// `list`'s listing, stored for the other replicas.
    pub(crate) async fn fresh<F>(&self, url: &str, list: F) -> Result<Refs, Error>
    where
        F: Future<Output = Result<Refs, Error>>,
    {
        let refs = list.await?;
        self.refs.put(url, encode_refs(&refs), self.ttl).await;
        Ok(refs)
    }

    async fn get(&self, url: &str) -> Option<Refs> {
        let value = self.refs.get(url).await?;
        decode_refs(&value)
    }

    async fn wait(&self, url: &str) -> Wait {
        if self.lock_timeout.is_zero() {
            return Wait::Free;
        }
        let owner = owner();
        let deadline = Instant::now() + self.lock_timeout;
        let mut delay = FIRST_POLL;
        loop {
            if self.refs.try_lock(url, &owner, self.lock_timeout).await {
                return Wait::Held(Held {
                    refs: self.refs.clone(),
                    url: url.to_string(),
                    owner,
                    released: false,
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::debug!(
                    url,
                    "listing without the lock: another replica held it too long"
                );
                return Wait::Free;
            }
            sleep(delay.min(left)).await;
            delay = (delay * 2).min(LAST_POLL);
            if let Some(refs) = self.get(url).await {
                return Wait::Listed(refs);
            }
        }
    }
}

/// A listing lock this process holds; dropped unreleased (the caller gave up), a spawned task
/// releases it, so the other replicas need not wait for it to lapse.
struct Held {
    refs: Arc<dyn SharedRefs>,
    url: String,
    owner: String,
    released: bool,
}

impl Held {
    async fn release(mut self) {
        self.refs.unlock(&self.url, &self.owner).await;
        self.released = true;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let refs = self.refs.clone();
            let (url, owner) = (
                std::mem::take(&mut self.url),
                std::mem::take(&mut self.owner),
            );
            runtime.spawn(async move { refs.unlock(&url, &owner).await });
        }
    }
}

/// A lock owner unique to this call: the process and a random number (from the seed of the
/// standard library's hasher, which the kernel supplies).
fn owner() -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let random = RandomState::new().hash_one(CALLS.fetch_add(1, Relaxed));
    format!("{}-{random:016x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> Refs {
        Refs::parse(
            b"ref: refs/heads/main\tHEAD\n\
            aaaa\tHEAD\n\
            aaaa\trefs/heads/main\n\
            bbbb\trefs/heads/dev\n\
            cccc\trefs/pull/1/head\n\
            dddd\trefs/tags/v1\n\
            aaaa\trefs/tags/v1^{}\n",
        )
    }

    #[test]
    fn round_trips_in_upstreams_shape() {
        let value = encode_refs(&refs());
        assert_eq!(
            String::from_utf8(value.clone()).unwrap(),
            r#"[["",""],["HEAD","ref: refs/heads/main"],["refs/heads/dev","bbbb"],["refs/heads/main","aaaa"],["refs/tags/v1","aaaa"],["HEAD","aaaa"],["refs/pull/1/head","cccc"]]"#
        );
        assert_eq!(decode_refs(&value), Some(refs()));
    }

    #[test]
    fn entries_not_ours_are_misses() {
        // Upstream's listing (maybe made with credentials), its lock, garbage.
        for value in [
            &br#"[["refs/heads/main","aaaa"]]"#[..],
            br#"[["locked","0b7c"]]"#,
            br#"[]"#,
            b"\x1f\x8b",
            br#"[["","x"],["refs/heads/main","aaaa"]]"#,
        ] {
            assert_eq!(
                decode_refs(value),
                None,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        // Upstream peels annotated tags into `^{}` entries; read like a listing.
        let theirs = br#"[["",""],["refs/tags/v1","dddd"],["refs/tags/v1^{}","aaaa"]]"#;
        assert_eq!(decode_refs(theirs).unwrap().tag("v1"), Some("aaaa"));
    }

    #[test]
    fn a_line_break_cannot_forge_a_ref() {
        let forged = br#"[["",""],["refs/heads/a","aaaa\nffff\trefs/heads/main"]]"#;
        assert_eq!(decode_refs(forged), None);
    }

    #[test]
    fn only_requests_without_any_credentials_share() {
        let anonymous = Repo::new("https://git.example/a", Creds::default()).unwrap();
        assert!(super::anonymous(&anonymous));
        let token = Repo::new("https://tok@git.example/a", Creds::default()).unwrap();
        assert!(!super::anonymous(&token), "credentials in the URL");
        let creds = Creds {
            password: "p".into(),
            ..Creds::default()
        };
        assert!(!super::anonymous(
            &Repo::new("https://git.example/a", creds).unwrap()
        ));
    }

    #[test]
    fn owners_differ_per_call() {
        assert_ne!(owner(), owner());
    }
}
