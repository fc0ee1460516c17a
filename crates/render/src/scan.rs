//! Upstream's out-of-bounds symlink scan: a repository with a symlink that leaves it is not
//! handed to a tool, whichever app is rendered. A git snapshot never changes, so its scan is
//! done once and remembered in [`Scans`]; other roots (streamed files) are scanned every time.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use walkdir::DirEntry;

use crate::links::in_bounds;
use crate::walk::tree;
use crate::Error;

/// Snapshot roots already found free of escaping symlinks. Cheap to clone; clones share
/// what they remember, across the requests of a server.
#[derive(Debug, Default, Clone)]
pub struct Scans {
    clean: Arc<Mutex<HashSet<PathBuf>>>,
}

/// Roots remembered at most; the memory is emptied when full.
const CAPACITY: usize = 4096;

impl Scans {
    pub(crate) fn known(&self, root: &Path) -> bool {
        self.clean.lock().contains(root)
    }

    fn remember(&self, root: &Path) {
        let mut clean = self.clean.lock();
        if clean.len() >= CAPACITY {
            clean.clear();
        }
        clean.insert(root.to_path_buf());
    }
}

/// The entries under `root`, `.git` excluded, in walk order, with their paths relative to it.
pub(crate) fn entries(
    root: &Path,
) -> impl Iterator<Item = Result<(DirEntry, PathBuf), Error>> + '_ {
    tree(root).map(move |entry| {
        let entry = entry?;
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("walk stays below root")
            .to_path_buf();
        Ok((entry, rel))
    })
}

/// The target of `entry` if it is a symlink (relative path `rel` under the canonical `root`);
/// an error if it leaves the repository, by its text or, followed through other links, on
/// disk (`m -> ../..` and `l -> m/../../..` each read as inside). The error names the link,
/// never its target.
pub(crate) fn link_target(
    root: &Path,
    entry: &DirEntry,
    rel: &Path,
) -> Result<Option<PathBuf>, Error> {
    if !entry.file_type().is_symlink() {
        return Ok(None);
    }
    let name = || rel.to_string_lossy().into_owned();
    let target = fs::read_link(entry.path())
        .map_err(|e| Error::io(format!("reading link {}", name()), e))?;
    let escapes_on_disk = || {
        // A dangling link has nothing to follow; its text was checked.
        fs::canonicalize(entry.path()).is_ok_and(|real| !real.starts_with(root))
    };
    if !in_bounds(rel, &target) || escapes_on_disk() {
        return Err(Error::OutOfBounds { path: name() });
    }
    Ok(Some(target))
}

/// Fails on the first symlink under `root` that leaves it; remembered in `scans` when clean.
pub(crate) fn check(root: &Path, scans: Option<&Scans>) -> Result<(), Error> {
    if scans.is_some_and(|s| s.known(root)) {
        return Ok(());
    }
    for entry in entries(root) {
        let (entry, rel) = entry?;
        link_target(root, &entry, &rel)?;
    }
    if let Some(scans) = scans {
        scans.remember(root);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn escaping_links_fail_every_time_and_clean_roots_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("../b", root.join("a/inside")).unwrap();
        let scans = Scans::default();
        check(&root, Some(&scans)).unwrap();
        assert!(scans.known(&root));

        symlink("../../..", root.join("a/b/out")).unwrap();
        let fresh = Scans::default();
        for _ in 0..2 {
            let err = check(&root, Some(&fresh)).unwrap_err();
            assert!(
                matches!(err, Error::OutOfBounds { ref path } if path == "a/b/out"),
                "{err}"
            );
        }
        assert!(!fresh.known(&root), "a failed scan is not remembered");
        assert!(check(&root, None).is_err());
    }

    #[test]
    fn a_chain_of_links_that_each_read_as_inside_is_still_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        fs::create_dir_all(root.join("a/b")).unwrap();
        let root = root.canonicalize().unwrap();
        symlink("../..", root.join("a/b/m")).unwrap();
        symlink("m/../../..", root.join("a/b/l")).unwrap();
        let err = check(&root, None).unwrap_err();
        assert!(
            matches!(err, Error::OutOfBounds { ref path } if path == "a/b/l"),
            "{err}"
        );
    }

    #[test]
    fn links_inside_dot_git_are_not_scanned() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        symlink("/etc", root.join(".git/elsewhere")).unwrap();
        check(&root, None).unwrap();
    }
}
