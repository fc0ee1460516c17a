//! The manifest-generate-paths check of UpdateRevisionForPaths.

use globset::Glob;
use repo_source::RepoPath;

use crate::engine::Error;

/// Whether any changed file lies under one of the annotation's paths. Paths are relative to the
/// application directory, or to the repository root when they start with `/`; globs allowed.
pub fn touches(changed: &[String], app: &RepoPath, paths: &[String]) -> Result<bool, Error> {
    let app = app.as_str();
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
            .map_err(|e| Error::Request(format!("manifest-generate-paths entry {raw:?}: {e}")))?;
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

    fn app(path: &str) -> RepoPath {
        RepoPath::new(path).unwrap()
    }

    fn changed(files: &[&str]) -> Vec<String> {
        files.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paths_are_relative_to_the_app_or_rooted() {
        let c = changed(&["apps/web/deploy.yaml", "lib/common.libsonnet"]);
        assert!(touches(&c, &app("apps/web"), &[".".into()]).unwrap());
        assert!(!touches(&c, &app("apps/api"), &[".".into()]).unwrap());
        assert!(touches(&c, &app("apps/api"), &["/lib".into()]).unwrap());
        assert!(touches(&c, &app("apps/api"), &["../web".into()]).unwrap());
        assert!(touches(&c, &app("apps/api"), &["/none;/lib/*.libsonnet".into()]).unwrap());
        assert!(!touches(&c, &app("apps/api"), &["/none".into()]).unwrap());
    }
}
