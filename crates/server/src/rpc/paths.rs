//! GetGitFiles and the manifest-generate-paths check of UpdateRevisionForPaths.

use std::collections::HashMap;
use std::path::Path;

use globset::{Glob, GlobBuilder, GlobMatcher};
use tonic::Status;

use crate::rpc::engine::directories;

fn glob(pattern: &str, literal_separator: bool) -> Result<GlobMatcher, Status> {
    GlobBuilder::new(pattern)
        .literal_separator(literal_separator)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Status::invalid_argument(format!("path pattern {pattern:?}: {e}")))
}

/// Files of the snapshot matching `pattern` (relative to the root), with their contents. With
/// `new_globbing`, `*` stops at `/` and `**` crosses directories (upstream's new git file
/// globbing); otherwise `*` matches across directories as upstream's legacy globbing does.
pub fn files(
    root: &Path,
    pattern: &str,
    new_globbing: bool,
) -> Result<HashMap<String, Vec<u8>>, Status> {
    let matcher = glob(pattern.trim_start_matches('/'), new_globbing)?;
    let mut out = HashMap::new();
    for dir in std::iter::once(String::new()).chain(directories(root)) {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            // Symlinks are skipped: their targets may lie outside the snapshot.
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if matcher.is_match(&rel) {
                let bytes = std::fs::read(entry.path())
                    .map_err(|e| Status::internal(format!("{rel}: {e}")))?;
                out.insert(rel, bytes);
            }
        }
    }
    Ok(out)
}

/// Whether any changed file lies under one of the annotation's paths. Paths are relative to the
/// application directory, or to the repository root when they start with `/`; globs allowed.
pub fn touches(changed: &[String], app_path: &str, paths: &[String]) -> Result<bool, Status> {
    let app = app_path.trim_matches('/');
    for raw in paths
        .iter()
        .flat_map(|p| p.split(';'))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let scoped = match raw.strip_prefix('/') {
            Some(rooted) => rooted.to_string(),
            None if app.is_empty() || app == "." => raw.to_string(),
            None => format!("{app}/{raw}"),
        };
        let normalized = normalize(&scoped);
        let matcher = Glob::new(&normalized)
            .map(|g| g.compile_matcher())
            .map_err(|e| {
                Status::invalid_argument(format!("manifest-generate-paths entry {raw:?}: {e}"))
            })?;
        let prefix = if normalized.is_empty() {
            String::new()
        } else {
            format!("{normalized}/")
        };
        if changed.iter().any(|f| {
            normalized.is_empty()
                || *f == normalized
                || f.starts_with(&prefix)
                || matcher.is_match(f)
        }) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Resolves `.` and `..` lexically (the paths come from an annotation, not the filesystem).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(files: &[&str]) -> Vec<String> {
        files.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paths_are_relative_to_the_app_or_rooted() {
        let c = changed(&["apps/web/deploy.yaml", "lib/common.libsonnet"]);
        assert!(touches(&c, "apps/web", &[".".into()]).unwrap());
        assert!(!touches(&c, "apps/api", &[".".into()]).unwrap());
        assert!(touches(&c, "apps/api", &["/lib".into()]).unwrap());
        assert!(touches(&c, "apps/api", &["../web".into()]).unwrap());
        assert!(touches(&c, "apps/api", &["/none;/lib/*.libsonnet".into()]).unwrap());
        assert!(!touches(&c, "apps/api", &["/none".into()]).unwrap());
    }

    #[test]
    fn files_match_globs() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a/config.json", "a/b/config.json", "c.txt"] {
            std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let new = files(dir.path(), "a/*/config.json", true).unwrap();
        assert_eq!(new.keys().collect::<Vec<_>>(), ["a/b/config.json"]);
        let deep = files(dir.path(), "**/config.json", true).unwrap();
        assert_eq!(deep.len(), 2);
        assert_eq!(deep["a/config.json"], b"a/config.json");
        assert!(files(dir.path(), "a/[", true).is_err());
    }
}
