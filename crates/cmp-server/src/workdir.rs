//! The work directory: emptied at start (upstream's `Service.Init`), and one private
//! directory per request inside it, removed when the request ends however it ends.

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

/// Removes a request's directory on the blocking pool, read-only directories included.
pub fn discard(dir: tempfile::TempDir) {
    let dir = dir.keep();
    let clean = move || {
        if let Err(e) = remove(&dir) {
            tracing::error!(dir = %dir.display(), error = %e, "failed to clean up a request directory");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(clean)),
        Err(_) => clean(),
    }
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

    #[tokio::test]
    async fn discard_removes_read_only_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir_in(tmp.path()).unwrap();
        let path = dir.path().to_path_buf();
        std::fs::create_dir_all(path.join("ro/sub")).unwrap();
        std::fs::set_permissions(path.join("ro"), std::fs::Permissions::from_mode(0o500)).unwrap();
        discard(dir);
        // The removal runs on the blocking pool; wait for it by queueing behind it.
        for _ in 0..100 {
            if !path.exists() {
                break;
            }
            tokio::task::spawn_blocking(|| {
                std::thread::sleep(std::time::Duration::from_millis(20))
            })
            .await
            .unwrap();
        }
        assert!(!path.exists());
    }
}
