//! Where things live under the cache directory:
//!
//! ```text
//! <dir>/.lock                 held while a Cache is open
//! <dir>/key                   32 random bytes that key the `<id>`s (0600)
//! <dir>/home/                 empty $HOME and working directory of every git command
//! <dir>/askpass               credential helper
//! <dir>/tmp/                  scratch: credential files, snapshots being built; wiped at start
//! <dir>/repos/<id>.git        bare mirror per normalized URL
//! <dir>/snapshots/<id>/<sha>/ immutable checkout of one commit
//! ```
//!
//! `<id>` is the hex SHA-256 of the key file's bytes followed by the normalized URL: without
//! the key, which no tool can read, no one can derive where a repository's snapshots are, so a
//! kustomization cannot name another repository's snapshot as its base (Landlock, where the
//! kernel has it, refuses such reads anyway; docs/security.md).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) lock: PathBuf,
    pub(crate) key: PathBuf,
    /// The key's bytes, read (or made) by [`Layout::create`].
    secret: Secret,
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
            key: root.join("key"),
            secret: Secret::default(),
            home: root.join("home"),
            askpass: root.join("askpass"),
            scratch: root.join("tmp"),
            repos: root.join("repos"),
            snapshots: root.join("snapshots"),
        }
    }

    /// Creates the directories, private ones 0700 since scratch holds credentials, and the
    /// key on first use.
    pub(crate) fn create(&self) -> io::Result<()> {
        let mut private = DirBuilder::new();
        private.recursive(true).mode(0o700);
        private.create(&self.root)?;
        private.create(&self.home)?;
        private.create(&self.scratch)?;
        private.create(&self.repos)?;
        private.create(&self.snapshots)?;
        if self.secret.0.get().is_none() {
            let _ = self.secret.0.set(secret(&self.key, &self.scratch)?);
        }
        Ok(())
    }

    /// The directory name of a normalized URL: fixed length, no path characters, and not
    /// derivable without the key.
    pub(crate) fn id(&self, url_key: &str) -> String {
        let secret = self.secret.0.get().expect("Layout::create read the key");
        // A keyed hash rather than an HMAC: a length extension would only name URLs of the
        // extender's choosing, never another repository's directory.
        let mut hash = Sha256::new();
        hash.update(secret);
        hash.update(url_key.as_bytes());
        hex::encode(hash.finalize())
    }

    pub(crate) fn mirror(&self, id: &str) -> PathBuf {
        self.repos.join(format!("{id}.git"))
    }

    pub(crate) fn snapshot(&self, id: &str, sha: &str) -> PathBuf {
        self.snapshots.join(id).join(sha)
    }
}

/// The key's bytes, never shown.
#[derive(Clone, Default)]
struct Secret(OnceLock<[u8; 32]>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The key at `path`, made from the kernel's random source if there is none. A new key is
/// written in `scratch` and linked into place, so processes starting at once agree on one key
/// and a crash never leaves a short one.
fn secret(path: &Path, scratch: &Path) -> io::Result<[u8; 32]> {
    if !path.exists() {
        let mut key = [0u8; 32];
        let mut filled = 0;
        while filled < key.len() {
            match rustix::rand::getrandom(&mut key[filled..], rustix::rand::GetRandomFlags::empty())
            {
                Ok(n) => filled += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let fresh = scratch.join(format!("key-{}", std::process::id()));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&fresh)?;
        file.write_all(&key)?;
        file.sync_all()?;
        let linked = fs::hard_link(&fresh, path);
        fs::remove_file(&fresh)?;
        match linked {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    fs::read(path)?.try_into().map_err(|_| {
        io::Error::other(format!(
            "{} is not a 32-byte key: remove it (the cache is then rebuilt)",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_keyed_per_cache_and_stable_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let layout = |root: &Path| {
            let layout = Layout::new(root);
            layout.create().unwrap();
            layout
        };
        let url = "https://git.example.com/team/secrets";
        let first = layout(&a).id(url);
        assert_eq!(first.len(), 64);
        assert_eq!(layout(&a).id(url), first, "reopening changed the id");
        assert_ne!(layout(&b).id(url), first, "another cache has the same id");
        assert_ne!(first, hex::encode(Sha256::digest(url.as_bytes())));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(a.join("key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(format!("{:?}", layout(&a)).contains("Secret(..)"));
    }
}
