//! The work directory, emptied at start (upstream's `Service.Init`). Each request's
//! directory inside it is repo-cmp's: `receive` makes it, `discard` removes it.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Empties `dir` and recreates it, private to the sidecar's user.
pub fn init(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {
            remove(dir).map_err(|e| format!("error removing workdir {}: {e}", dir.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("error removing workdir {}: {e}", dir.display())),
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("error creating workdir {}: {e}", dir.display()))
}

/// `remove_dir_all`, after making every directory writable again if a plugin (or a
/// preserved file mode) left one read-only.
fn remove(dir: &Path) -> std::io::Result<()> {
    if std::fs::remove_dir_all(dir).is_ok() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_dir() {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700));
        }
    }
    std::fs::remove_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_empties_and_recreates() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("_cmp_server");
        std::fs::create_dir_all(work.join("old/locked")).unwrap();
        std::fs::write(work.join("old/locked/f"), "x").unwrap();
        std::fs::set_permissions(
            work.join("old/locked"),
            std::fs::Permissions::from_mode(0o500),
        )
        .unwrap();
        init(&work).unwrap();
        assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
        let mode = std::fs::metadata(&work).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
