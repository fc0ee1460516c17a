//! Confinement of repository-relative paths to the snapshot root.
//!
//! Every path taken from a request (app path, value files, jsonnet libraries and imports, files
//! read) goes through [`confine`], which resolves `..` and symlinks and refuses anything that
//! ends up outside the root. Errors name the requested path only, never where a link points.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use crate::Error;

/// Resolves `relative` inside `root` and returns its canonical path.
///
/// Refuses absolute paths, paths starting with `-` (they could pass for tool flags) and paths
/// that leave `root` lexically or through a symlink. A missing target is [`Error::NotFound`].
pub fn confine(root: &Path, relative: &str) -> Result<PathBuf, Error> {
    if relative.starts_with('-') {
        return Err(Error::InvalidArgument(format!(
            "{relative}: paths must not start with '-'"
        )));
    }
    if relative.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "{relative:?}: paths must not contain NUL"
        )));
    }
    if Path::new(relative).is_absolute() {
        return Err(Error::InvalidArgument(format!(
            "{relative}: must be relative to the repository root"
        )));
    }
    let escapes = || Error::OutOfBounds {
        path: relative.to_string(),
    };
    // Lexical check first, so a missing path outside the root is reported as escaping rather
    // than as absent (which would reveal what exists outside).
    let mut depth = 0usize;
    for part in Path::new(relative).components() {
        match part {
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(escapes)?,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    let base = canonical_root(root)?;
    let real = match base.join(relative).canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::NotFound {
                path: relative.to_string(),
            })
        }
        Err(e) => return Err(Error::io(format!("resolving {relative}"), e)),
    };
    if real.starts_with(&base) {
        Ok(real)
    } else {
        Err(escapes())
    }
}

/// The canonical form of the snapshot root.
pub(crate) fn canonical_root(root: &Path) -> Result<PathBuf, Error> {
    root.canonicalize()
        .map_err(|e| Error::io("resolving the repository root", e))
}

/// Whether a symlink at `link` (relative to the root) with target `target` stays inside the
/// root when followed lexically, as upstream's out-of-bounds symlink check does. Absolute
/// targets are always refused.
pub(crate) fn link_in_bounds(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth = link.components().count().saturating_sub(1);
    for part in target.components() {
        match part {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    true
}

/// `path` relative to `base`, as a `/`-separated string; `.` for `base` itself.
pub(crate) fn relative(base: &Path, path: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_bounds_follow_the_link_location() {
        assert!(link_in_bounds(Path::new("a/b"), Path::new("../c")));
        assert!(link_in_bounds(Path::new("a/b"), Path::new("c/../../d")));
        assert!(!link_in_bounds(Path::new("a/b"), Path::new("../../c")));
        assert!(!link_in_bounds(Path::new("b"), Path::new("../x")));
        assert!(!link_in_bounds(Path::new("a/b"), Path::new("/etc/passwd")));
    }
}
