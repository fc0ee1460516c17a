//! Content roots: the one way into a snapshot, a chart archive or streamed files.
//!
//! Every path taken from a request (app path, value files, jsonnet libraries and imports, files
//! read) is parsed into a [`RepoPath`] (inside by its text) and opened through [`Root::open`],
//! which resolves symlinks and refuses anything that ends up outside. Errors name the requested
//! path only, never where a link points.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use repo_source::{Invalid, RepoPath};

use crate::Error;

/// The canonical directory of one content root (a git snapshot, streamed files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(path: &Path) -> Result<Self, Error> {
        path.canonicalize()
            .map(Self)
            .map_err(|e| Error::io("resolving the repository root", e))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The real path of `path`, which must exist and stay inside the root after symlinks.
    pub fn open(&self, path: &RepoPath) -> Result<PathBuf, Error> {
        self.follow(&self.0.join(path))
    }

    /// The real path of `path` (below the root, e.g. found by a walk), which must stay inside
    /// the root after symlinks; errors name it relative to the root.
    pub fn follow(&self, path: &Path) -> Result<PathBuf, Error> {
        let shown = || self.relative(path);
        let real = match path.canonicalize() {
            Ok(real) => real,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound { path: shown() })
            }
            Err(e) => return Err(Error::io(format!("resolving {}", shown()), e)),
        };
        if real.starts_with(&self.0) {
            Ok(real)
        } else {
            Err(Error::OutOfBounds { path: shown() })
        }
    }

    /// [`Root::open`] of a raw, repository-relative path.
    pub fn resolve(&self, raw: &str) -> Result<PathBuf, Error> {
        self.open(&RepoPath::new(raw)?)
    }

    /// `path` (below the root) relative to it, `/`-separated; `.` for the root itself.
    pub fn relative(&self, path: &Path) -> String {
        relative(&self.0, path)
    }
}

/// Resolves `relative` inside `root` (see [`Root::open`]) and returns its canonical path.
pub fn confine(root: &Path, relative: &str) -> Result<PathBuf, Error> {
    Root::new(root)?.resolve(relative)
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Self {
        match invalid {
            // Reported as escaping, never as absent: that would reveal what exists outside.
            Invalid::Path {
                path,
                reason: "leads outside the repository",
            } => Error::OutOfBounds { path },
            other => Error::InvalidArgument(other.to_string()),
        }
    }
}

/// `path` relative to `base`, as a `/`-separated string; `.` for `base` itself.
pub(crate) fn relative(base: &Path, path: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}
