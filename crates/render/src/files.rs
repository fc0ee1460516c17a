//! GetGitFiles: the files of a root matching a glob, with their contents.

use std::collections::HashMap;

use crate::glob::{self, Pathspec};
use crate::walk::walk;
use crate::{Error, Root};

/// Files of the root matching `pattern` (relative to the root), with their contents, as
/// upstream lists them: with `new_globbing` doublestar's globbing, otherwise `git ls-files`'
/// pathspec (see [`crate::glob`]). Hidden directories are searched (both of upstream's ways
/// list them); a symlink counts when it leads to a file inside the root; directories a
/// pattern matches are left out (upstream fails reading them).
pub fn files(
    root: &Root,
    pattern: &str,
    new_globbing: bool,
) -> Result<HashMap<String, Vec<u8>>, Error> {
    let pattern = pattern.trim_start_matches('/');
    let matches: Box<dyn Fn(&str) -> bool> = if new_globbing {
        let glob = glob::strict(pattern)?;
        Box::new(move |p| glob.is_match(p))
    } else {
        let spec = Pathspec::new(pattern)?;
        Box::new(move |p| spec.matches(p))
    };
    let mut out = HashMap::new();
    for entry in walk(root.path(), usize::MAX, |_| true) {
        let entry = entry?;
        let ty = entry.file_type();
        if ty.is_dir() {
            continue;
        }
        let rel = root.relative(entry.path());
        if !matches(&rel) {
            continue;
        }
        let real = if ty.is_symlink() {
            match root.follow(entry.path()) {
                Ok(real) if real.is_file() => real,
                Ok(_) | Err(Error::NotFound { .. } | Error::OutOfBounds { .. }) => continue,
                Err(e) => return Err(e),
            }
        } else {
            entry.into_path()
        };
        let bytes = std::fs::read(&real).map_err(|e| Error::io(rel.clone(), e))?;
        out.insert(rel, bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_match_globs() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "a/config.json",
            "a/b/config.json",
            "c.txt",
            ".h/config.json",
        ] {
            std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("c.txt", dir.path().join("link.txt")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("out.txt")).unwrap();
        let root = Root::new(dir.path()).unwrap();
        let keys = |m: HashMap<String, Vec<u8>>| {
            let mut k: Vec<_> = m.into_keys().collect();
            k.sort();
            k
        };
        let new = files(&root, "a/*/config.json", true).unwrap();
        assert_eq!(keys(new), ["a/b/config.json"]);
        let deep = files(&root, "**/config.json", true).unwrap();
        assert_eq!(deep["a/config.json"], b"a/config.json");
        assert_eq!(
            keys(deep),
            [".h/config.json", "a/b/config.json", "a/config.json"]
        );
        let legacy = files(&root, "a/**/config.json", false).unwrap();
        assert_eq!(keys(legacy), ["a/b/config.json"]);
        let legacy = files(&root, "a", false).unwrap();
        assert_eq!(keys(legacy), ["a/b/config.json", "a/config.json"]);
        let links = files(&root, "*.txt", false).unwrap();
        assert_eq!(keys(links.clone()), ["c.txt", "link.txt"]);
        assert_eq!(links["link.txt"], b"c.txt");
        assert!(files(&root, "a/[", true).is_err());
        assert!(files(&root, "a/[", false).is_err());
    }
}
