//! Immutable checkouts of single commits, with their LFS objects and submodules when enabled.
//! Each is built in scratch and renamed into place, so a crash, a failed LFS fetch or a failed
//! submodule leaves only scratch (wiped at start), never a half-written snapshot.

use std::path::{Path, PathBuf};

use crate::lfs::Objects;
use crate::run::{Call, Git};
use crate::store::Lease;
use crate::submodule::Modules;
use crate::{classify, size, Error};

/// The files of one commit, shared by every request for it. Never modified: a caller that
/// needs to change files works on a copy. The directory stays while any handle is alive.
#[derive(Debug)]
pub struct Snapshot {
    path: PathBuf,
    sha: String,
    bytes: u64,
    /// Tells the store when the last handle drops, so idle snapshots over budget go at once.
    lease: Option<Lease>,
}

impl Snapshot {
    pub(crate) fn new(path: PathBuf, sha: String, bytes: u64) -> Self {
        Self {
            path,
            sha,
            bytes,
            lease: None,
        }
    }

    pub(crate) fn leased(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Root directory of the checkout (no `.git` inside).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Full SHA of the commit.
    pub fn sha(&self) -> &str {
        &self.sha
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.release();
        }
    }
}

/// What a snapshot holds besides the commit's files.
pub(crate) struct Extras<'a, 'm> {
    /// LFS objects in place of their pointers (before submodules, as upstream).
    pub(crate) lfs: Option<&'a Objects<'a>>,
    pub(crate) modules: Option<&'a mut Modules<'m>>,
}

/// Checks `sha` out of `mirror` into `dest`, with the `extras` asked for.
/// `read-tree` with a private index reads the mirror only, so builds of different commits
/// run in parallel, also with a fetch.
pub(crate) async fn build(
    git: &Git,
    url: &str,
    mirror: &Path,
    scratch: &Path,
    dest: &Path,
    sha: &str,
    extras: Extras<'_, '_>,
) -> Result<Snapshot, Error> {
    let io = |what: &str, e: std::io::Error| {
        Error::internal(url, format!("snapshot {sha}: {what}: {e}"))
    };
    let work = tempfile::Builder::new()
        .prefix("snapshot-")
        .tempdir_in(scratch)
        .map_err(|e| io("scratch directory", e))?;
    let tree = work.path().join("tree");
    tokio::fs::create_dir(&tree)
        .await
        .map_err(|e| io("scratch directory", e))?;
    read_tree(git, url, mirror, sha, &tree, &work.path().join("index")).await?;
    if let Some(lfs) = extras.lfs {
        lfs.fill(git, url, mirror, sha, &tree, work.path()).await?;
    }
    if let Some(modules) = extras.modules {
        // Still in scratch: a submodule that fails leaves nothing published.
        modules
            .check_out(git, mirror, sha, &tree, work.path())
            .await?;
    }
    let measured = tree.clone();
    let bytes = tokio::task::spawn_blocking(move || size::disk_usage(&measured))
        .await
        .unwrap_or_default();
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io("snapshot directory", e))?;
    }
    // Only one build per commit runs and the store has no entry for it, so anything already
    // there was published by a build cancelled before it was indexed.
    if tokio::fs::try_exists(dest).await.unwrap_or(false) {
        let stale = work.path().join("stale");
        tokio::fs::rename(dest, &stale)
            .await
            .map_err(|e| io("move stale snapshot", e))?;
        tokio::fs::remove_dir_all(&stale)
            .await
            .map_err(|e| io("remove stale snapshot", e))?;
    }
    tokio::fs::rename(&tree, dest)
        .await
        .map_err(|e| io("publish", e))?;
    Ok(Snapshot::new(dest.to_path_buf(), sha.to_string(), bytes))
}

/// Writes the files of commit `sha` of `mirror` into the existing directory `dir`, with the
/// private index file `index`.
pub(crate) async fn read_tree(
    git: &Git,
    url: &str,
    mirror: &Path,
    sha: &str,
    dir: &Path,
    index: &Path,
) -> Result<(), Error> {
    let mut work_tree = std::ffi::OsString::from("--work-tree=");
    work_tree.push(dir);
    git.run(
        Call::new()
            .git_dir(mirror)
            .arg(work_tree)
            .args(["read-tree", "--reset", "-u", "--end-of-options", sha])
            .env("GIT_INDEX_FILE", index),
    )
    .await
    .map(drop)
    .map_err(|f| classify::local(url, "read-tree", f))
}
