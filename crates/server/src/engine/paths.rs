//! The manifest-generate-paths check of UpdateRevisionForPaths (upstream's
//! `AppFilesHaveChanged`). The controller sends the annotation's paths already resolved against
//! the repository root (`GetSourceRefreshPaths`), so they are matched as they are.

use std::path::{Component, Path, PathBuf};

use globset::GlobBuilder;

/// Whether a changed file (repository-relative) lies under, is, or matches (a `filepath.Match`
/// glob: `*` stays within a directory) one of the refresh paths. An empty change list means
/// the caller does not know what changed: that counts as a change, as upstream.
pub(super) fn changed(refresh_paths: &[String], changed_files: &[String]) -> bool {
    if changed_files.is_empty() || refresh_paths.is_empty() {
        return true;
    }
    let items: Vec<(String, PathBuf)> = refresh_paths
        .iter()
        .map(|p| (absolute(p), clean(&absolute(p))))
        .collect();
    changed_files.iter().any(|file| {
        let file = absolute(file);
        items.iter().any(|(item, root)| {
            file == *item || under(root, Path::new(&file)) || matches(item, &file)
        })
    })
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// `.` and `..` resolved lexically, as Go's `filepath.Clean` does for absolute paths.
fn clean(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Whether `file`'s directory is `root` or below it (upstream's `EnforceToCurrentRoot`).
fn under(root: &Path, file: &Path) -> bool {
    let dir = clean(&file.parent().unwrap_or(Path::new("/")).to_string_lossy());
    dir.starts_with(root)
}

/// Go's `filepath.Match`: the whole path, `*` and `?` never cross `/`; a bad pattern never
/// matches.
fn matches(pattern: &str, file: &str) -> bool {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Upstream's rules: equal, below (by directory), or a `filepath.Match` glob.
    #[test]
    fn matches_like_upstream() {
        let cases: &[(&[&str], &[&str], bool)] = &[
            (&[], &["a.yaml"], true),
            (&["."], &[], true),
            (&["."], &["app.yaml"], true),
            (&["source/path"], &["source/path/my-deployment.yaml"], true),
            (&["source/path"], &["source/path/sub/x.yaml"], true),
            (&["source/path"], &["other/path/x.yaml"], false),
            (&["source/path"], &["source/path-other/x.yaml"], false),
            (
                &["source/path/deploy.yaml"],
                &["source/path/deploy.yaml"],
                true,
            ),
            (&["source/path/*.yaml"], &["source/path/deploy.yaml"], true),
            (
                &["source/path/*.yaml"],
                &["source/path/sub/deploy.yaml"],
                false,
            ),
            (&["other", "source/path"], &["source/path/a.yaml"], true),
            (&["/source/path"], &["source/path/a.yaml"], true),
            (&["source/path/../other"], &["source/other/a.yaml"], true),
        ];
        for (paths, files, want) in cases {
            assert_eq!(
                changed(&list(paths), &list(files)),
                *want,
                "{paths:?} {files:?}"
            );
        }
    }
}
