//! The snapshots on disk: lookup, least-recently-used order and the size budget. A snapshot
//! is in use while a handle exists; those are never evicted, and the budget is applied again
//! when the last handle of one drops, so a burst of renders leaves the disk within budget.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::{revision, size, Snapshot};

/// `(mirror id, sha)`
type Key = (String, String);

pub(crate) struct Store {
    shared: Arc<Shared>,
}

struct Shared {
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
    path: PathBuf,
    bytes: u64,
    used: u64,
    /// The handles given out; none alive means idle.
    live: Weak<Snapshot>,
}

/// Held by every snapshot the store hands out; released when its last handle drops.
#[derive(Debug)]
pub(crate) struct Lease {
    shared: Weak<Shared>,
}

impl Lease {
    pub(crate) fn release(self) {
        if let Some(shared) = self.shared.upgrade() {
            let doomed = shared.evict(&mut shared.state.lock());
            discard(doomed);
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("budget", &self.budget)
            .finish()
    }
}

impl Store {
    pub(crate) fn new(scratch: PathBuf, budget: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                scratch,
                budget,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn lease(&self) -> Lease {
        Lease {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Indexes the snapshots a previous run left (`<root>/<id>/<sha>`), then applies the budget.
    pub(crate) fn load(&self, root: &Path) -> io::Result<()> {
        let mut state = self.shared.state.lock();
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
                state.clock += 1;
                let entry = Entry {
                    path: snap.path(),
                    bytes,
                    used: state.clock,
                    live: Weak::new(),
                };
                state
                    .entries
                    .insert((id.to_string(), sha.to_string()), entry);
            }
        }
        let doomed = self.shared.evict(&mut state);
        drop(state);
        doomed.iter().for_each(|dir| remove(dir));
        Ok(())
    }

    /// The snapshot of `sha`, if indexed and still on disk. One deleted behind the store's
    /// back is forgotten, so the caller builds it again.
    pub(crate) fn get(&self, id: &str, sha: &str) -> Option<Arc<Snapshot>> {
        let key = (id.to_string(), sha.to_string());
        let mut state = self.shared.state.lock();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(&key)?;
        if !entry.path.is_dir() {
            tracing::warn!(path = %entry.path.display(), "snapshot removed from disk; rebuilding it");
            let bytes = entry.bytes;
            state.entries.remove(&key);
            state.bytes -= bytes;
            return None;
        }
        entry.used = now;
        if let Some(live) = entry.live.upgrade() {
            return Some(live);
        }
        let snapshot = Snapshot::new(entry.path.clone(), key.1, entry.bytes);
        let snapshot = Arc::new(snapshot.leased(self.lease()));
        entry.live = Arc::downgrade(&snapshot);
        Some(snapshot)
    }

    /// Adds a freshly built snapshot and returns its first handle; then evicts idle ones while
    /// over budget (removal happens off the async threads).
    pub(crate) fn insert(&self, id: &str, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot.leased(self.lease()));
        let mut state = self.shared.state.lock();
        state.clock += 1;
        state.bytes += snapshot.bytes();
        let entry = Entry {
            path: snapshot.path().to_path_buf(),
            bytes: snapshot.bytes(),
            used: state.clock,
            live: Arc::downgrade(&snapshot),
        };
        let key = (id.to_string(), snapshot.sha().to_string());
        if let Some(old) = state.entries.insert(key, entry) {
            state.bytes -= old.bytes;
        }
        let doomed = self.shared.evict(&mut state);
        drop(state);
        discard(doomed);
        snapshot
    }
}

impl Shared {
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
            .filter(|(_, e)| e.live.strong_count() == 0)
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
            state.bytes -= entry.bytes;
            state.evictions += 1;
            let grave = self
                .scratch
                .join(format!("evicted-{}-{}", state.evictions, key.1));
            match fs::rename(&entry.path, &grave) {
                Ok(()) => doomed.push(grave),
                // Already gone.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %entry.path.display(), error = %e, "cannot evict snapshot");
                    state.bytes += entry.bytes;
                    state.entries.insert(key, entry);
                    continue;
                }
            }
            tracing::debug!(sha = %key.1, bytes = entry.bytes, "evicted snapshot");
        }
        doomed
    }
}

/// Deletes evicted directories off the async threads when there are any.
fn discard(doomed: Vec<PathBuf>) {
    if doomed.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(move || doomed.iter().for_each(|dir| remove(dir)));
        }
        Err(_) => doomed.iter().for_each(|dir| remove(dir)),
    }
}

fn remove(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        tracing::warn!(path = %dir.display(), error = %e, "cannot remove evicted snapshot");
    }
}
