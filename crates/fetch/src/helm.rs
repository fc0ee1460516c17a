//! Helm repositories: the index (cached in memory for the index TTL, one fetch at a time per
//! repository), chart versions resolved with upstream's rules, and chart archives pulled once
//! per (repository, chart, version) into the store.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_util::TryStreamExt;
use parking_lot::Mutex;
use repo_source::{semver, Repo, Transport};
use reqwest::Url;

use crate::access::{self, Access, Creds};
use crate::index::{Entry, Index};
use crate::store::hex_of;
use crate::{Blob, Error, Fetcher, Settings};

/// Raw bytes of the indexes kept in memory, and how many: past either, the least recently
/// used goes. An index bigger than the budget is used once and not kept.
const INDEX_MEMORY: u64 = 256 * 1024 * 1024;
const INDEXES: usize = 64;
/// (repository, chart, version) → digest entries kept.
const REFS: usize = 4096;
const MEDIA_TYPE: &str = "application/x-tar+gzip";

pub(crate) struct State {
    access: Access,
    indexes: Mutex<Lru<Cached>>,
    /// Digest of each pulled (repository, credentials, chart, version).
    refs: Mutex<Lru<String>>,
    flights: Flights,
}

struct Cached {
    index: Arc<Index>,
    /// When its download began (the index TTL counts from there) and ended.
    started: Instant,
    done: Instant,
}

/// A map that forgets its least recently used entries past a count or a weight.
struct Lru<T> {
    map: HashMap<String, (T, u64, u64)>,
    tick: u64,
    weight: u64,
}

impl<T> Lru<T> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
            tick: 0,
            weight: 0,
        }
    }

    fn get(&mut self, key: &str) -> Option<&T> {
        self.tick += 1;
        let entry = self.map.get_mut(key)?;
        entry.1 = self.tick;
        Some(&entry.0)
    }

    fn insert(&mut self, key: String, value: T, weight: u64, count: usize, budget: u64) {
        if let Some((_, _, old)) = self.map.remove(&key) {
            self.weight -= old;
        }
        if weight > budget {
            return;
        }
        self.tick += 1;
        self.weight += weight;
        self.map.insert(key, (value, self.tick, weight));
        while self.map.len() > count || self.weight > budget {
            let Some(oldest) = self.map.iter().min_by_key(|e| e.1 .1).map(|e| e.0.clone()) else {
                break;
            };
            if let Some((_, _, w)) = self.map.remove(&oldest) {
                self.weight -= w;
            }
        }
    }
}

/// One run at a time per key; the others wait and then find its result in a cache.
#[derive(Default)]
pub(crate) struct Flights(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

/// Removes a flight's lock from the map once nobody holds or waits for it.
struct Landing<'a> {
    flights: &'a Flights,
    key: &'a str,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut map = self.flights.0.lock();
        // The map's reference and ours.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(self.key);
        }
    }
}

impl Flights {
    pub(crate) async fn run<T, F: Future<Output = T>>(
        &self,
        key: &str,
        f: impl FnOnce() -> F,
    ) -> T {
        let lock = self.0.lock().entry(key.to_string()).or_default().clone();
        let landing = Landing {
            flights: self,
            key,
            lock,
        };
        let _guard = landing.lock.lock().await;
        f().await
    }
}

impl State {
    pub(crate) fn new(settings: &Settings) -> Self {
        Self {
            access: Access::new(settings),
            indexes: Mutex::new(Lru::new()),
            refs: Mutex::new(Lru::new()),
            flights: Flights::default(),
        }
    }
}

/// The repository URL as a base for `index.yaml` and relative chart URLs (trailing slash).
fn base(repo: &Repo) -> Result<Url, Error> {
    if !matches!(repo.remote.transport, Transport::Http | Transport::Https) {
        return Err(Error::Invalid(format!(
            "{}: a Helm repository is served over http or https (an OCI registry is not a Helm repository index)",
            repo.url()
        )));
    }
    let mut url = Url::parse(repo.url())
        .map_err(|e| Error::Invalid(format!("{}: not a URL: {e}", repo.url())))?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Where a chart archive (or the index) is, as Helm resolves it: a relative URL is joined to
/// the repository URL and takes its query (e.g. a token); an absolute one is used as it is.
fn archive_url(base: &Url, raw: &str, what: &str) -> Result<Url, Error> {
    let absolute = Url::parse(raw).is_ok();
    let mut url = base
        .join(raw)
        .map_err(|e| Error::Corrupt(format!("{what}: download URL {raw:?} in index.yaml: {e}")))?;
    if !absolute && base.query().is_some() {
        url.set_query(base.query());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Corrupt(format!(
            "{what}: index.yaml points the archive at {}; only http and https are fetched",
            repo_source::display(url.as_str())
        )));
    }
    Ok(url)
}

/// The entry of `version`: written exactly so, else the same semver version (`v1.0.0` vs
/// `1.0.0`).
fn find<'a>(entries: &'a [Entry], version: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.version == version).or_else(|| {
        let wanted = semver::version(version)?;
        entries
            .iter()
            .find(|e| semver::version(&e.version).is_some_and(|v| v == wanted))
    })
}

impl Fetcher {
    /// The repository's `index.yaml`, from memory while younger than the index TTL unless
    /// `fresh`. Concurrent calls for one repository share one download.
    pub async fn index(&self, repo: &Repo, fresh: bool) -> Result<Arc<Index>, Error> {
        let asked = Instant::now();
        let state = &self.inner.helm;
        let ttl = self.inner.settings.index_ttl;
        let key = format!("{}\n{}", repo.remote.key, access::identity(repo));
        // Usable for this call: downloaded since it was made when `fresh`; else young, or
        // downloaded by the call this one waited for.
        let cached = |waited: bool| {
            let mut indexes = state.indexes.lock();
            let c = indexes.get(&key)?;
            let usable = if fresh {
                c.started >= asked
            } else {
                c.started.elapsed() < ttl || (waited && c.done >= asked)
            };
            usable.then(|| c.index.clone())
        };
        if !fresh {
            if let Some(index) = cached(false) {
                return Ok(index);
            }
        }
        state
            .flights
            .run(&key, || async {
                if let Some(index) = cached(true) {
                    return Ok(index);
                }
                let started = Instant::now();
                let fetched = self.download_index(repo).await;
                state
                    .access
                    .observe("index", repo, fetched.is_ok(), started);
                let (index, bytes) = fetched?;
                let index = Arc::new(index);
                state.indexes.lock().insert(
                    key.clone(),
                    Cached {
                        index: index.clone(),
                        started,
                        done: Instant::now(),
                    },
                    bytes,
                    INDEXES,
                    INDEX_MEMORY,
                );
                Ok(index)
            })
            .await
    }

    /// `index.yaml` read up to the cap, then parsed off the async threads; its raw size.
    async fn download_index(&self, repo: &Repo) -> Result<(Index, u64), Error> {
        let shown = repo.url().to_string();
        let url = archive_url(&base(repo)?, "index.yaml", &shown)?;
        let max = self.inner.settings.max_index_bytes;
        let too_large = || {
            Error::TooLarge(format!(
                "{shown}: index.yaml is larger than {max} bytes; raise --helm-registry-max-index-size if this repository is trusted"
            ))
        };
        let access = &self.inner.helm.access;
        let mut response = access.get(repo, &url, Creds::Send, &shown).await?;
        if response.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        // A length is only a claim: memory grows with what arrives, past the first 16 MiB.
        let claimed = response.content_length().unwrap_or(0).min(16 << 20);
        let mut raw = Vec::with_capacity(claimed as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| access.unavailable(&url, &shown, &e))?
        {
            if (raw.len() + chunk.len()) as u64 > max {
                return Err(too_large());
            }
            raw.extend_from_slice(&chunk);
        }
        let bytes = raw.len() as u64;
        let index = tokio::task::spawn_blocking(move || Index::parse(&raw, &shown))
            .await
            .map_err(|e| Error::Unavailable(format!("{}: index.yaml: {e}", repo.url())))??;
        Ok((index, bytes))
    }

    /// The chart version `revision` names (upstream's rules): a version as written without
    /// looking, a constraint as the highest version of `chart` it matches, else an existing
    /// version of that exact name.
    pub async fn chart_version(
        &self,
        repo: &Repo,
        chart: &str,
        revision: &str,
        fresh: bool,
    ) -> Result<String, Error> {
        if semver::version(revision).is_some() {
            return Ok(revision.to_string());
        }
        let index = self.index(repo, fresh).await?;
        let entries = index.chart(chart, repo.url())?;
        semver::max_version(revision, entries.iter().map(|e| e.version.as_str())).map_err(|e| {
            let text = format!("{}: chart {chart:?}: {e}", repo.url());
            match e {
                semver::NoVersion::NoMatch(_) => Error::NotFound(text),
                semver::NoVersion::Invalid(_) => Error::Invalid(text),
            }
        })
    }

    /// The archive of `chart` at `version`, downloaded once into the store and verified against
    /// the index's digest. The repository's credentials go to another host only with
    /// `pass_credentials`.
    pub async fn chart(
        &self,
        repo: &Repo,
        chart: &str,
        version: &str,
        pass_credentials: bool,
    ) -> Result<Blob, Error> {
        let state = &self.inner.helm;
        let key = format!(
            "{}\n{}\n{chart}\n{version}",
            repo.remote.key,
            access::identity(repo)
        );
        let known = || {
            let digest = state.refs.lock().get(&key).cloned()?;
            self.inner.store.get(&digest)
        };
        if let Some(blob) = known() {
            return Ok(blob);
        }
        state
            .flights
            .run(&key, || async {
                if let Some(blob) = known() {
                    return Ok(blob);
                }
                let blob = self
                    .pull_chart(repo, chart, version, pass_credentials)
                    .await?;
                state
                    .refs
                    .lock()
                    .insert(key.clone(), blob.digest.clone(), 1, REFS, u64::MAX);
                Ok(blob)
            })
            .await
    }

    async fn pull_chart(
        &self,
        repo: &Repo,
        chart: &str,
        version: &str,
        pass_credentials: bool,
    ) -> Result<Blob, Error> {
        let what = format!("{}: chart {chart:?} version {version:?}", repo.url());
        let base = base(repo)?;
        let mut index = self.index(repo, false).await?;
        let listed = |index: &Index| {
            index
                .entries
                .get(chart)
                .is_some_and(|entries| find(entries, version).is_some())
        };
        if !listed(&index) {
            // Published since the index was cached?
            index = self.index(repo, true).await?;
        }
        let entry = find(index.chart(chart, repo.url())?, version)
            .ok_or_else(|| Error::NotFound(format!("{what}: no such version in index.yaml")))?;
        // Helm itself never checks this digest, so a repository with a malformed one works
        // there; it is checked here whenever it is a SHA-256.
        let expected = hex_of(&entry.digest).map(|hex| format!("sha256:{hex}"));
        if expected.is_none() && !entry.digest.is_empty() {
            tracing::warn!(
                chart = what,
                digest = entry.digest,
                "index.yaml digest is not a sha256; the archive is not verified"
            );
        }
        let store = &self.inner.store;
        if let Some(blob) = expected.as_deref().and_then(|d| store.get(d)) {
            return Ok(blob);
        }
        let raw = entry
            .urls
            .first()
            .ok_or_else(|| Error::Corrupt(format!("{what}: index.yaml lists no download URL")))?;
        let url = archive_url(&base, raw, &what)?;
        let creds = if pass_credentials || access::same_origin(&base, &url) {
            Creds::Send
        } else {
            Creds::Withhold
        };
        let access = &self.inner.helm.access;
        let started = Instant::now();
        let pulled = async {
            let response = access.get(repo, &url, creds, &what).await?;
            let max = self.inner.settings.max_archive_bytes;
            if response.content_length().is_some_and(|n| n > max) {
                return Err(Error::TooLarge(format!(
                    "{what}: the archive is larger than the {max} bytes allowed"
                )));
            }
            let body = response.bytes_stream().map_err(|e| access::chain(&e));
            store
                .put(body, expected.as_deref(), max, MEDIA_TYPE, &what)
                .await
        }
        .await;
        access.observe("pull", repo, pulled.is_ok(), started);
        pulled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_urls_resolve_like_helm() {
        let repo = |url: &str| Repo::new(url, Default::default()).unwrap();
        let b = base(&repo("https://h/charts")).unwrap();
        assert_eq!(b.as_str(), "https://h/charts/");
        let at = |raw: &str| archive_url(&b, raw, "w").map(|u| u.to_string());
        assert_eq!(at("a-1.tgz").unwrap(), "https://h/charts/a-1.tgz");
        assert_eq!(at("/x/a-1.tgz").unwrap(), "https://h/x/a-1.tgz");
        assert_eq!(at("https://cdn/a-1.tgz").unwrap(), "https://cdn/a-1.tgz");
        assert!(matches!(at("file:///etc/passwd"), Err(Error::Corrupt(_))));
        let q = base(&repo("https://h/charts/?token=t")).unwrap();
        assert_eq!(
            archive_url(&q, "a-1.tgz", "w").unwrap().as_str(),
            "https://h/charts/a-1.tgz?token=t"
        );
        assert_eq!(
            archive_url(&q, "index.yaml", "w").unwrap().as_str(),
            "https://h/charts/index.yaml?token=t",
            "as upstream's getIndexURL"
        );
        assert!(matches!(base(&repo("oci://h/c")), Err(Error::Invalid(_))));
    }

    #[test]
    fn lru_forgets_oldest_past_count_and_weight() {
        let mut lru = Lru::new();
        lru.insert("a".into(), 1, 4, 2, 10);
        lru.insert("b".into(), 2, 4, 2, 10);
        assert!(lru.get("a").is_some());
        lru.insert("c".into(), 3, 4, 2, 10);
        assert!(lru.get("b").is_none(), "count");
        lru.insert("d".into(), 4, 7, 5, 10);
        assert!(lru.get("a").is_none() && lru.get("c").is_none(), "weight");
        lru.insert("e".into(), 5, 11, 5, 10);
        assert!(lru.get("e").is_none(), "heavier than the budget: not kept");
        assert_eq!(lru.weight, 7);
    }

    #[tokio::test]
    async fn flights_run_one_at_a_time_and_leave_nothing() {
        let flights = Flights::default();
        let running = std::sync::atomic::AtomicUsize::new(0);
        let run = || {
            flights.run("k", || async {
                assert_eq!(running.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
                tokio::task::yield_now().await;
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            })
        };
        futures_util::future::join_all((0..4).map(|_| run())).await;
        assert!(flights.0.lock().is_empty());
        // A waiter that is cancelled leaves nothing behind either.
        let lock = flights.0.lock().entry("k".into()).or_default().clone();
        let held = lock.lock().await;
        let waiting = tokio::time::timeout(std::time::Duration::ZERO, run()).await;
        assert!(waiting.is_err());
        drop(held);
        drop(lock);
        flights.run("k", || async {}).await;
        assert!(flights.0.lock().is_empty());
    }

    #[test]
    fn finds_versions_exactly_then_by_semver() {
        let e = |v: &str| Entry {
            version: v.into(),
            ..Entry::default()
        };
        let entries = [e("v1.0.0"), e("2.0.0")];
        assert_eq!(find(&entries, "1.0.0").unwrap().version, "v1.0.0");
        assert_eq!(find(&entries, "2.0.0").unwrap().version, "2.0.0");
        assert!(find(&entries, "3.0.0").is_none());
    }
}
