//! What a repository holds: its directories and the applications discovery finds in them
//! (ListApps, GetGitDirectories).

use std::collections::HashMap;

use crate::detect::{found, SourceType};
use crate::walk::{hidden, walk};
use crate::{Error, Root};

/// Directories of the root (relative, `/`-separated); hidden ones and their contents only
/// with `include_hidden` (upstream's `--include-hidden-directories`); symlinked directories
/// are not followed (they may lead out of the root).
pub fn directories(root: &Root, include_hidden: bool) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for entry in walk(root.path(), usize::MAX, |e| include_hidden || !hidden(e)) {
        let entry = entry?;
        if entry.file_type().is_dir() {
            out.push(root.relative(entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Every directory (`.` for the root) that discovery finds to be a Helm chart or a Kustomize
/// app, as upstream's ListApps reports them (plain directories are not listed; hidden ones
/// are searched, as upstream's walk does).
pub fn discover(
    root: &Root,
    enabled: &HashMap<String, bool>,
) -> Result<HashMap<String, String>, Error> {
    let mut apps = HashMap::new();
    for dir in std::iter::once(".".to_string()).chain(directories(root, true)?) {
        let path = root.path().join(&dir);
        let kind = found(&path, enabled).map_err(|e| Error::io(format!("listing {dir}"), e))?;
        if kind != SourceType::Directory {
            apps.insert(dir, kind.as_str().to_string());
        }
    }
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_directories_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["app/bar/.hidden", "app/foo", ".git/objects"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("app/bar/.hidden/Chart.yaml"), "name: x\n").unwrap();
        let root = Root::new(dir.path()).unwrap();
        let visible = ["app", "app/bar", "app/foo"];
        assert_eq!(directories(&root, false).unwrap(), visible);
        let all = directories(&root, true).unwrap();
        assert_eq!(
            all,
            ["app", "app/bar", "app/bar/.hidden", "app/foo"],
            ".git never"
        );
        let apps = discover(&root, &HashMap::new()).unwrap();
        assert_eq!(apps["app/bar/.hidden"], "Helm");
    }
}
