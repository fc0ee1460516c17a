//! GetGitFiles: the files of a root matching a glob, with their contents.

use std::collections::HashMap;

use globset::GlobBuilder;

use crate::walk::{hidden, walk};
use crate::{Error, Root};

/// Files of the root matching `pattern` (relative to the root), with their contents. With
/// `new_globbing`, `*` stops at `/` and `**` crosses directories (upstream's new git file
/// globbing); otherwise `*` matches across directories as upstream's legacy globbing does.
/// Hidden directories are not searched; symlinks are skipped (their targets may lie outside).
pub fn files(
    root: &Root,
    pattern: &str,
    new_globbing: bool,
) -> Result<HashMap<String, Vec<u8>>, Error> {
    let pattern = pattern.trim_start_matches('/');
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(new_globbing)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("path pattern {pattern:?}: {e}")))?
        .compile_matcher();
    let mut out = HashMap::new();
    for entry in walk(root.path(), usize::MAX, |e| {
        !(e.file_type().is_dir() && hidden(e))
    }) {
        let entry = entry?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = root.relative(entry.path());
        if matcher.is_match(&rel) {
            let bytes = std::fs::read(entry.path()).map_err(|e| Error::io(rel.clone(), e))?;
            out.insert(rel, bytes);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_match_globs() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a/config.json", "a/b/config.json", "c.txt"] {
            std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let root = Root::new(dir.path()).unwrap();
        let new = files(&root, "a/*/config.json", true).unwrap();
        assert_eq!(new.keys().collect::<Vec<_>>(), ["a/b/config.json"]);
        let deep = files(&root, "**/config.json", true).unwrap();
        assert_eq!(deep.len(), 2);
        assert_eq!(deep["a/config.json"], b"a/config.json");
        assert!(files(&root, "a/[", true).is_err());
    }
}
