//! Paths inside a repository, as requests name them (app paths, value files, globs' bases).

use std::path::{Component, Path};

use crate::{Arg, Invalid};

/// A relative path that stays inside the repository by its text: not absolute, no NUL, not
/// option-like, and no `..` that climbs above the root. Normalized (`.`, empty parts and `..`
/// resolved), `.` for the root. Whether it also stays inside on disk (symlinks) is checked when
/// it is opened under a content root.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath(String);

impl RepoPath {
    pub fn new(raw: &str) -> Result<Self, Invalid> {
        let bad = |reason| Invalid::Path {
            path: raw.to_string(),
            reason,
        };
        Arg::new("path", raw)?;
        if raw.contains('\0') {
            return Err(bad("paths must not contain NUL"));
        }
        if Path::new(raw).is_absolute() {
            return Err(bad("must be relative to the repository root"));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in Path::new(raw).components() {
            match part {
                Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| bad("not UTF-8"))?),
                Component::ParentDir => {
                    parts
                        .pop()
                        .ok_or_else(|| bad("leads outside the repository"))?;
                }
                _ => {}
            }
        }
        if parts.is_empty() {
            return Ok(Self::root());
        }
        // `./-C` normalizes to `-C`: the rule holds for the result, not only for the text.
        Arg::new("path", parts.join("/")).map(|p| Self(p.into_string()))
    }

    /// The repository root.
    pub fn root() -> Self {
        Self(".".to_string())
    }

    /// `/`-separated, `.` for the root.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "."
    }

    /// `rel` resolved against this directory (a leading `/` makes it repository-relative).
    pub fn join(&self, rel: &str) -> Result<Self, Invalid> {
        match rel.strip_prefix('/') {
            Some(from_root) => Self::new(from_root),
            None if self.is_root() => Self::new(rel),
            None => Self::new(&format!("{}/{rel}", self.0)).map_err(|e| match e {
                Invalid::Path { reason, .. } => Invalid::Path {
                    path: rel.to_string(),
                    reason,
                },
                other => other,
            }),
        }
    }
}

impl AsRef<Path> for RepoPath {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl std::fmt::Display for RepoPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_stays_inside_by_text() {
        assert_eq!(RepoPath::new("").unwrap().as_str(), ".");
        assert_eq!(RepoPath::new("./a//b/../c/").unwrap().as_str(), "a/c");
        assert_eq!(RepoPath::new("a/..").unwrap(), RepoPath::root());
        for (bad, why) in [
            ("../x", "leads outside the repository"),
            ("a/../../x", "leads outside the repository"),
            ("/etc/passwd", "must be relative to the repository root"),
            ("a\0b", "paths must not contain NUL"),
        ] {
            match RepoPath::new(bad) {
                Err(Invalid::Path { reason, .. }) => assert_eq!(reason, why, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(matches!(
            RepoPath::new("-C/tmp"),
            Err(Invalid::Option { .. })
        ));
    }

    #[test]
    fn joins_relative_to_the_directory_or_the_root() {
        let app = RepoPath::new("apps/web").unwrap();
        assert_eq!(
            app.join("values.yaml").unwrap().as_str(),
            "apps/web/values.yaml"
        );
        assert_eq!(app.join("../../x").unwrap().as_str(), "x");
        assert_eq!(app.join("/base/v.yaml").unwrap().as_str(), "base/v.yaml");
        let err = app.join("../../../x").unwrap_err();
        assert_eq!(err.to_string(), "../../../x: leads outside the repository");
    }
}
