//! Removal of what interrupted work leaves behind. A killed `git fetch` can leave lock files,
//! `objects/pack/tmp_pack_*` (upstream issue #18831: tens of GiB after repeated timeouts),
//! temporary objects and fetch-pack's `.keep` files; a killed snapshot build leaves its scratch
//! directory.

use std::fs;
use std::io;
use std::path::Path;

/// Cleans a mirror. Only call when no git process writes to it: at startup, or with its fetch
/// lock held (readers never write there).
pub(crate) fn mirror(repo: &Path) -> io::Result<usize> {
    let mut removed = 0;
    walk(repo, false, &mut removed)?;
    Ok(removed)
}

/// Empties the scratch directory (startup only: it holds the work of running commands).
pub(crate) fn scratch(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn walk(dir: &Path, in_objects: bool, removed: &mut usize) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            // Quarantine directories of an interrupted object transfer.
            if in_objects && (name.starts_with("tmp_objdir") || name.starts_with("incoming-")) {
                fs::remove_dir_all(&path)?;
                *removed += 1;
                continue;
            }
            walk(&path, in_objects || name == "objects", removed)?;
            continue;
        }
        let garbage = name.ends_with(".lock")
            || (in_objects && name.starts_with("tmp_"))
            || (in_objects && name.ends_with(".keep") && written_by_fetch(&path));
        if garbage {
            fs::remove_file(&path)?;
            *removed += 1;
        }
    }
    Ok(())
}

/// fetch-pack marks the pack it is indexing with a `.keep` whose text starts like this; the
/// mirror has no other reason to keep packs.
fn written_by_fetch(path: &Path) -> bool {
    fs::read(path).is_ok_and(|text| text.starts_with(b"fetch-pack"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_leftovers_only() {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path();
        let pack = root.join("objects/pack");
        fs::create_dir_all(&pack).unwrap();
        fs::create_dir_all(root.join("refs/heads")).unwrap();
        fs::create_dir_all(root.join("objects/tmp_objdir-incoming-x/ab")).unwrap();
        for (path, text) in [
            ("objects/pack/tmp_pack_abc", "x"),
            ("objects/pack/tmp_idx_abc", "x"),
            ("objects/pack/pack-1.keep", "fetch-pack 123 on host"),
            ("objects/pack/pack-1.pack", "x"),
            ("objects/pack/pack-2.keep", "mine"),
            ("refs/heads/main.lock", "x"),
            ("refs/heads/main", "x"),
            ("packed-refs.lock", "x"),
            ("HEAD", "x"),
        ] {
            fs::write(root.join(path), text).unwrap();
        }
        assert_eq!(mirror(root).unwrap(), 6);
        for kept in [
            "objects/pack/pack-1.pack",
            "objects/pack/pack-2.keep",
            "refs/heads/main",
            "HEAD",
        ] {
            assert!(root.join(kept).exists(), "{kept}");
        }
        assert!(!root.join("objects/tmp_objdir-incoming-x").exists());
    }
}
