//! The one link-escape rule, for links found in a repository and links unpacked from archives.

use std::path::{Component, Path};

/// Whether a link at `link` (relative to the root) with target `target` stays inside the root
/// when followed lexically, as upstream's out-of-bounds symlink check does. Absolute targets
/// are always refused. A hard link in an archive resolves from the root: pass a one-part
/// `link` for it.
pub fn in_bounds(link: &Path, target: &Path) -> bool {
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
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_bounds_follow_the_link_location() {
        assert!(in_bounds(Path::new("a/b"), Path::new("../c")));
        assert!(in_bounds(Path::new("a/b"), Path::new("c/../../d")));
        assert!(!in_bounds(Path::new("a/b"), Path::new("../../c")));
        assert!(!in_bounds(Path::new("b"), Path::new("../x")));
        assert!(!in_bounds(Path::new("a/b"), Path::new("/etc/passwd")));
    }

    #[test]
    fn archive_links_resolve_like_the_repository_check() {
        assert!(in_bounds(Path::new("a/link"), Path::new("b.yaml")));
        assert!(in_bounds(Path::new("a/b/link"), Path::new("../c.yaml")));
        assert!(!in_bounds(
            Path::new("a/link"),
            Path::new("../../etc/passwd")
        ));
        assert!(!in_bounds(Path::new("link"), Path::new("/etc/passwd")));
        assert!(
            !in_bounds(Path::new("x"), Path::new("../x")),
            "hard links resolve from the root"
        );
    }
}
