//! Where things live under the cache directory:
//!
//! ```text
//! <dir>/.lock                 held while a Cache is open
//! <dir>/home/                 empty $HOME and working directory of every git command
//! <dir>/askpass               credential helper
//! <dir>/tmp/                  scratch: credential files, snapshots being built; wiped at start
//! <dir>/repos/<id>.git        bare mirror per normalized URL
//! <dir>/snapshots/<id>/<sha>/ immutable checkout of one commit
//! ```
//!
//! `<id>` is the hex SHA-256 of the normalized URL.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) lock: PathBuf,
    pub(crate) home: PathBuf,
    pub(crate) askpass: PathBuf,
    pub(crate) scratch: PathBuf,
    pub(crate) repos: PathBuf,
    pub(crate) snapshots: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            lock: root.join(".lock"),
            home: root.join("home"),
            askpass: root.join("askpass"),
            scratch: root.join("tmp"),
            repos: root.join("repos"),
            snapshots: root.join("snapshots"),
        }
    }

    /// Creates the directories; private ones are 0700 since scratch holds credentials.
    pub(crate) fn create(&self) -> io::Result<()> {
        let mut private = DirBuilder::new();
        private.recursive(true).mode(0o700);
        private.create(&self.root)?;
        private.create(&self.home)?;
        private.create(&self.scratch)?;
        private.create(&self.repos)?;
        private.create(&self.snapshots)
    }

    pub(crate) fn mirror(&self, id: &str) -> PathBuf {
        self.repos.join(format!("{id}.git"))
    }

    pub(crate) fn snapshot(&self, id: &str, sha: &str) -> PathBuf {
        self.snapshots.join(id).join(sha)
    }
}

/// The directory name of a normalized URL: fixed length, no path characters.
pub(crate) fn id(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
