//! What a repository holds: its directories and the applications discovery finds in them
//! (ListApps, GetGitDirectories).

use std::collections::HashMap;

use crate::detect::{found, SourceType};
use crate::walk::{hidden, walk};
use crate::{Error, Root};

/// Directories of the root (relative, `/`-separated), hidden ones and their contents left
/// out; symlinked directories are not followed (they may lead out of the root).
pub fn directories(root: &Root) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for entry in walk(root.path(), usize::MAX, |e| !hidden(e)) {
        let entry = entry?;
        if entry.file_type().is_dir() {
            out.push(root.relative(entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Every directory (`.` for the root) that discovery finds to be a Helm chart or a Kustomize
/// app, as upstream's ListApps reports them (plain directories are not listed).
pub fn discover(
    root: &Root,
    enabled: &HashMap<String, bool>,
) -> Result<HashMap<String, String>, Error> {
    let mut apps = HashMap::new();
    for dir in std::iter::once(".".to_string()).chain(directories(root)?) {
        let path = root.path().join(&dir);
        let kind = found(&path, enabled).map_err(|e| Error::io(format!("listing {dir}"), e))?;
        if kind != SourceType::Directory {
            apps.insert(dir, kind.as_str().to_string());
        }
    }
    Ok(apps)
}
