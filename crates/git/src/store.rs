//! The snapshots on disk: lookup, least-recently-used order and the size budget. A snapshot
//! is in use while a handle other than the store's own exists; those are never evicted.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{revision, size, Snapshot};

/// `(mirror id, sha)`
type Key = (String, String);

pub(crate) struct Store {
    scratch: PathBuf,
    budget: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Logical clock for recency.
    clock: u64,
    bytes: u64,
    /// Names evicted directories uniquely in scratch.
    evictions: u64,
}

struct Entry {
    snapshot: Arc<Snapshot>,
    used: u64,
}

impl Store {
    pub(crate) fn new(scratch: PathBuf, budget: u64) -> Self {
        Self {
            scratch,
            budget,
            state: Mutex::new(State::default()),
        }
    }

    /// Indexes the snapshots a previous run left (`<root>/<id>/<sha>`), then applies the budget.
    pub(crate) fn load(&self, root: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        for repo in fs::read_dir(root)? {
            let repo = repo?;
            if !repo.file_type()?.is_dir() {
                continue;
            }
            for snap in fs::read_dir(repo.path())? {
                let snap = snap?;
                let (id, sha) = (repo.file_name(), snap.file_name());
                let (Some(id), Some(sha)) = (id.to_str(), sha.to_str()) else {
                    continue;
                };
                if !revision::is_sha(sha) {
                    continue;
                }
                let bytes = size::disk_usage(&snap.path());
                state.bytes += bytes;
                let snapshot = Snapshot::new(snap.path(), sha.to_string(), bytes);
                state.clock += 1;
                let used = state.clock;
                state.entries.insert(
                    (id.to_string(), sha.to_string()),
                    Entry {
                        snapshot: Arc::new(snapshot),
                        used,
                    },
                );
            }
        }
        let doomed = self.evict(&mut state);
        drop(state);
        doomed.iter().for_each(|dir| remove(dir));
        Ok(())
    }

    pub(crate) fn get(&self, id: &str, sha: &str) -> Option<Arc<Snapshot>> {
        let mut state = self.state.lock();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(&(id.to_string(), sha.to_string()))?;
        entry.used = now;
        Some(entry.snapshot.clone())
    }

    /// Adds a freshly built snapshot and returns its first handle; then evicts idle ones while
    /// over budget (removal happens off the async threads).
    pub(crate) fn insert(&self, id: &str, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        let mut state = self.state.lock();
        state.clock += 1;
        state.bytes += snapshot.bytes();
        let entry = Entry {
            snapshot: snapshot.clone(),
            used: state.clock,
        };
        let key = (id.to_string(), snapshot.sha().to_string());
        if let Some(old) = state.entries.insert(key, entry) {
            state.bytes -= old.snapshot.bytes();
        }
        let doomed = self.evict(&mut state);
        drop(state);
        if !doomed.is_empty() {
            tokio::task::spawn_blocking(move || doomed.iter().for_each(|dir| remove(dir)));
        }
        snapshot
    }

    /// Takes idle snapshots, oldest first, out of the index and out of their place (a rename,
    /// so a rebuild of the same commit never meets a half-deleted directory). Returns the
    /// directories to delete.
    fn evict(&self, state: &mut State) -> Vec<PathBuf> {
        if state.bytes <= self.budget {
            return Vec::new();
        }
        let mut idle: Vec<(Key, u64)> = state
            .entries
            .iter()
            .filter(|(_, e)| Arc::strong_count(&e.snapshot) == 1)
            .map(|(k, e)| (k.clone(), e.used))
            .collect();
        idle.sort_by_key(|(_, used)| *used);
        let mut doomed = Vec::new();
        for (key, _) in idle {
            if state.bytes <= self.budget {
                break;
            }
            let Some(entry) = state.entries.remove(&key) else {
                continue;
            };
            state.bytes -= entry.snapshot.bytes();
            state.evictions += 1;
            let grave = self
                .scratch
                .join(format!("evicted-{}-{}", state.evictions, key.1));
            match fs::rename(entry.snapshot.path(), &grave) {
                Ok(()) => doomed.push(grave),
                // Already gone.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %entry.snapshot.path().display(), error = %e, "cannot evict snapshot");
                    state.bytes += entry.snapshot.bytes();
                    state.entries.insert(key, entry);
                    continue;
                }
            }
            tracing::debug!(sha = %key.1, bytes = entry.snapshot.bytes(), "evicted snapshot");
        }
        doomed
    }
}

fn remove(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        tracing::warn!(path = %dir.display(), error = %e, "cannot remove evicted snapshot");
    }
}
