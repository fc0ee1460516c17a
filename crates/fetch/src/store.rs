//! Content-addressed archive store under a disk budget. An archive is `sha256/<hex>` (its media
//! type beside it in `<hex>.type`); it is hashed while written to `tmp/`, verified, fsynced and
//! only then renamed into place, so a reader never sees half an archive and a crash leaves only
//! temp files, which [`Store::new`] removes. Past the budget the least recently used go first.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{Blob, Error};

/// A blob handed out this recently is taken to be in use (its reader is unpacking it), so it
/// is not evicted even past the budget.
const IN_USE: Duration = Duration::from_secs(60);

pub(crate) struct Store {
    blobs: PathBuf,
    tmp: PathBuf,
    budget_bytes: u64,
    in_use: Duration,
    index: Mutex<Index>,
    placing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Index {
    blobs: HashMap<String, Entry>,
    total: u64,
    /// Use counter: a higher `used` is more recent.
    tick: u64,
}

struct Entry {
    size: u64,
    media_type: String,
    used: u64,
    handed: Option<Instant>,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// `sha256:<hex>` (or bare hex) as lowercase hex, if well formed.
pub(crate) fn hex_of(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

impl Store {
    /// Opens the store at `dir`, removing what a crash left half-written and evicting down to
    /// the budget. Runs at startup, before any request.
    pub(crate) fn new(dir: PathBuf, budget_bytes: u64) -> Result<Self, Error> {
        Self::with_in_use(dir, budget_bytes, IN_USE)
    }

    fn with_in_use(dir: PathBuf, budget_bytes: u64, in_use: Duration) -> Result<Self, Error> {
        let blobs = dir.join("sha256");
        let tmp = dir.join("tmp");
        let shown = dir.display().to_string();
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(format!("cleaning {shown}/tmp")))?;
        }
        for d in [&blobs, &tmp] {
            std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&blobs).map_err(io(format!("reading {shown}")))? {
            let entry = entry.map_err(io(format!("reading {shown}")))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kept = match hex_of(&name).filter(|hex| *hex == name) {
                Some(hex) => std::fs::read_to_string(blobs.join(format!("{hex}.type")))
                    .ok()
                    .zip(entry.metadata().ok())
                    .map(|(media_type, meta)| {
                        let mtime = meta.modified().ok();
                        found.push((mtime, hex, meta.len(), media_type));
                    })
                    .is_some(),
                // A media type is kept with its blob.
                None => name
                    .strip_suffix(".type")
                    .is_some_and(|hex| blobs.join(hex).is_file()),
            };
            if !kept {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // Oldest first: modification time is when the blob was stored.
        found.sort();
        let mut index = Index::default();
        for (_, hex, size, media_type) in found {
            index.tick += 1;
            index.total += size;
            let used = index.tick;
            index.blobs.insert(
                hex,
                Entry {
                    size,
                    media_type,
                    used,
                    handed: None,
                },
            );
        }
        let store = Self {
            blobs,
            tmp,
            budget_bytes,
            in_use,
            index: Mutex::new(index),
            placing: tokio::sync::Mutex::new(()),
        };
        for hex in store.victims(None) {
            store.remove_files(&hex);
        }
        Ok(store)
    }

    fn blob(&self, hex: &str, entry: &Entry) -> Blob {
        Blob {
            digest: format!("sha256:{hex}"),
            path: self.blobs.join(hex),
            media_type: entry.media_type.clone(),
        }
    }

    /// The stored archive with this digest (`sha256:<hex>`), marked as just used.
    pub(crate) fn get(&self, digest: &str) -> Option<Blob> {
        let hex = hex_of(digest)?;
        let mut index = self.index.lock();
        index.tick += 1;
        let tick = index.tick;
        let entry = index.blobs.get_mut(&hex)?;
        entry.used = tick;
        entry.handed = Some(Instant::now());
        let entry = &*entry;
        Some(self.blob(&hex, entry))
    }

    /// Stores `body`, at most `max_bytes` of it; with `expected` (`sha256:<hex>`) it must hash
    /// to that. `what` names the archive (repository, chart and version) in errors. On any
    /// error nothing is left behind.
    pub(crate) async fn put<E: Display>(
        &self,
        body: impl Stream<Item = Result<Bytes, E>>,
        expected: Option<&str>,
        max_bytes: u64,
        media_type: &str,
        what: &str,
    ) -> Result<Blob, Error> {
        let expected = match expected {
            Some(digest) => Some(hex_of(digest).ok_or_else(|| {
                Error::Invalid(format!("{what}: {digest:?} is not a sha256 digest"))
            })?),
            None => None,
        };
        let temp = Temp::new(self.tmp.join(unique()));
        let hex = match self.write(body, temp.path(), max_bytes, what).await {
            Ok(hex) => hex,
            Err(e) => {
                temp.discard().await;
                return Err(e);
            }
        };
        if let Some(expected) = expected.filter(|e| *e != hex) {
            temp.discard().await;
            return Err(Error::Corrupt(format!(
                "{what}: the download is sha256:{hex}, not sha256:{expected} as the repository says; nothing was stored"
            )));
        }
        let kind = Temp::new(self.tmp.join(unique()));
        // Placing and evicting one at a time: an eviction never deletes a copy just placed.
        let _placing = self.placing.lock().await;
        let placed = async {
            tokio::fs::write(kind.path(), media_type)
                .await
                .map_err(io(format!("{what}: writing to the store")))?;
            tokio::fs::rename(kind.path(), self.blobs.join(format!("{hex}.type")))
                .await
                .map_err(io(format!("{what}: storing")))?;
            tokio::fs::rename(temp.path(), self.blobs.join(&hex))
                .await
                .map_err(io(format!("{what}: storing")))
        };
        if let Err(e) = placed.await {
            temp.discard().await;
            kind.discard().await;
            return Err(e);
        }
        temp.disarm();
        kind.disarm();
        let size = tokio::fs::metadata(self.blobs.join(&hex))
            .await
            .map_err(io(format!("{what}: storing")))?
            .len();
        let blob = {
            let mut index = self.index.lock();
            index.tick += 1;
            let used = index.tick;
            if !index.blobs.contains_key(&hex) {
                index.total += size;
            }
            let entry = Entry {
                size,
                media_type: media_type.to_string(),
                used,
                handed: Some(Instant::now()),
            };
            let blob = self.blob(&hex, &entry);
            index.blobs.insert(hex.clone(), entry);
            blob
        };
        for victim in self.victims(Some(&hex)) {
            let (blob, kind) = (
                self.blobs.join(&victim),
                self.blobs.join(format!("{victim}.type")),
            );
            let _ = tokio::fs::remove_file(blob).await;
            let _ = tokio::fs::remove_file(kind).await;
        }
        Ok(blob)
    }

    /// Hashes `body` into `path`, fsynced; its hex digest.
    async fn write<E: Display>(
        &self,
        body: impl Stream<Item = Result<Bytes, E>>,
        path: &Path,
        max_bytes: u64,
        what: &str,
    ) -> Result<String, Error> {
        let writing = || io(format!("{what}: writing to the store"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .await
            .map_err(writing())?;
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::Unavailable(format!("{what}: {e}")))?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(Error::TooLarge(format!(
                    "{what}: larger than the {max_bytes} bytes allowed"
                )));
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(writing())?;
        }
        out.flush().await.map_err(writing())?;
        out.into_inner().sync_all().await.map_err(writing())?;
        Ok(hex::encode(hasher.finalize()))
    }

    /// Drops from the index, least recently used first, what puts the store past its budget;
    /// never `keep` nor a blob in use. The caller removes the files.
    fn victims(&self, keep: Option<&str>) -> Vec<String> {
        let mut index = self.index.lock();
        if index.total <= self.budget_bytes {
            return Vec::new();
        }
        let mut order: Vec<(u64, String)> = index
            .blobs
            .iter()
            .filter(|(hex, e)| {
                Some(hex.as_str()) != keep && e.handed.is_none_or(|t| t.elapsed() >= self.in_use)
            })
            .map(|(hex, e)| (e.used, hex.clone()))
            .collect();
        order.sort();
        let mut out = Vec::new();
        for (_, hex) in order {
            if index.total <= self.budget_bytes {
                break;
            }
            if let Some(entry) = index.blobs.remove(&hex) {
                index.total -= entry.size;
                out.push(hex);
            }
        }
        out
    }

    fn remove_files(&self, hex: &str) {
        let _ = std::fs::remove_file(self.blobs.join(hex));
        let _ = std::fs::remove_file(self.blobs.join(format!("{hex}.type")));
    }
}

/// A name no other write of this process (nor, by the pid, of another) uses.
fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temp file removed unless disarmed, also when the put is cancelled.
struct Temp(Option<PathBuf>);

impl Temp {
    fn new(path: PathBuf) -> Self {
        Self(Some(path))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    async fn discard(mut self) {
        if let Some(path) = self.0.take() {
            let _ = tokio::fs::remove_file(path).await;
        }
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let Some(path) = self.0.take() else { return };
        // A cancelled put: the removal must not block the async thread that drops it.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || std::fs::remove_file(path))),
            Err(_) => drop(std::fs::remove_file(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, String>> {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    fn sha(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = ["sha256", "tmp"]
            .iter()
            .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap())
            .map(|e| {
                e.unwrap()
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn stores_once_by_content_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), 1 << 20).unwrap();
        let blob = store
            .put(body(&[b"hello ", b"world"]), None, 100, "t/x", "chart a 1")
            .await
            .unwrap();
        assert_eq!(blob.digest, sha(b"hello world"));
        assert_eq!(std::fs::read(&blob.path).unwrap(), b"hello world");
        assert_eq!(store.get(&blob.digest), Some(blob.clone()));
        let again = store
            .put(
                body(&[b"hello world"]),
                Some(&blob.digest),
                100,
                "t/x",
                "chart a 1",
            )
            .await
            .unwrap();
        assert_eq!(again, blob);
        assert_eq!(store.index.lock().total, 11, "counted once");
        let hex = blob.digest.trim_start_matches("sha256:");
        assert_eq!(
            listing(dir.path()),
            [format!("sha256/{hex}"), format!("sha256/{hex}.type")]
        );
    }

    #[tokio::test]
    async fn refuses_wrong_digest_and_oversize_leaving_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), 1 << 20).unwrap();
        let err = store
            .put(
                body(&[b"evil"]),
                Some(&sha(b"good")),
                100,
                "t",
                "chart a 1 of r",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        assert!(err.to_string().starts_with("chart a 1 of r: "), "{err}");
        let err = store
            .put(body(&[b"12345", b"6"]), None, 5, "t", "chart a 1 of r")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
        let failing = futures_util::stream::iter([
            Ok(Bytes::from_static(b"part")),
            Err("connection reset".to_string()),
        ]);
        let err = store
            .put(failing, None, 100, "t", "chart a 1 of r")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err}");
        assert_eq!(listing(dir.path()), Vec::<String>::new());
        assert_eq!(store.index.lock().total, 0);
    }

    #[tokio::test]
    async fn evicts_least_recently_used_past_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::with_in_use(dir.path().to_path_buf(), 10, Duration::ZERO).unwrap();
        let a = store
            .put(body(&[b"aaaa"]), None, 100, "t", "a")
            .await
            .unwrap();
        let b = store
            .put(body(&[b"bbbb"]), None, 100, "t", "b")
            .await
            .unwrap();
        assert!(store.get(&a.digest).is_some(), "a is now the most recent");
        let c = store
            .put(body(&[b"cccc"]), None, 100, "t", "c")
            .await
            .unwrap();
        assert!(store.get(&b.digest).is_none(), "b was least recently used");
        assert!(!b.path.exists());
        assert!(a.path.exists() && c.path.exists());
        // A blob bigger than the budget is still kept while it is the newest.
        let big = store
            .put(body(&[b"0123456789abc"]), None, 100, "t", "big")
            .await
            .unwrap();
        assert!(big.path.exists());
        assert!(store.get(&a.digest).is_none() && store.get(&c.digest).is_none());
    }

    #[tokio::test]
    async fn never_evicts_a_blob_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), 4).unwrap();
        let a = store
            .put(body(&[b"aaaa"]), None, 100, "t", "a")
            .await
            .unwrap();
        let b = store
            .put(body(&[b"bbbb"]), None, 100, "t", "b")
            .await
            .unwrap();
        assert!(
            a.path.exists() && b.path.exists(),
            "both handed out just now"
        );
    }

    #[tokio::test]
    async fn reopening_cleans_temp_files_and_keeps_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let blob = {
            let store = Store::new(dir.path().to_path_buf(), 1 << 20).unwrap();
            store
                .put(body(&[b"kept"]), None, 100, "application/x-tar", "k")
                .await
                .unwrap()
        };
        // What a crash mid-put leaves: a temp file, and a media type without its blob.
        std::fs::write(dir.path().join("tmp/123-0"), b"half").unwrap();
        let orphan = "ab".repeat(32);
        std::fs::write(dir.path().join(format!("sha256/{orphan}.type")), "t").unwrap();
        let store = Store::new(dir.path().to_path_buf(), 1 << 20).unwrap();
        assert_eq!(store.get(&blob.digest), Some(blob.clone()));
        assert_eq!(blob.media_type, "application/x-tar");
        let hex = blob.digest.trim_start_matches("sha256:");
        assert_eq!(
            listing(dir.path()),
            [format!("sha256/{hex}"), format!("sha256/{hex}.type")]
        );
    }
}
