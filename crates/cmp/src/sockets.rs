//! The plugins directory: one unix socket per plugin sidecar, named `<name>.sock` or
//! `<name>-<version>.sock` by the sidecar; an application names the plugin by that stem.

use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use crate::Error;

/// Upstream's plugins directory (`ARGOCD_PLUGINSOCKFILEPATH` when set).
pub const DEFAULT_SOCKET_DIR: &str = "/home/argocd/cmp-server/plugins";

/// The plugins directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sockets {
    dir: PathBuf,
}

impl Sockets {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// From the `ARGOCD_PLUGINSOCKFILEPATH` value: the default when unset or empty.
    pub fn from_env(value: Option<&str>) -> Self {
        Self::new(
            value
                .filter(|v| !v.is_empty())
                .unwrap_or(DEFAULT_SOCKET_DIR),
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The socket of the plugin named `name` (`<name>.sock`, as upstream matches `plugin.name`).
    /// A name that is not one plain file name is refused: upstream refuses those leaving the
    /// directory, and no sidecar names its socket with a `/`.
    pub fn path(&self, name: &str) -> Result<PathBuf, Error> {
        let file = format!("{name}.sock");
        let mut parts = Path::new(&file).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(_)), None) if !name.is_empty() && !name.contains('\0') => {
                Ok(self.dir.join(file))
            }
            _ => Err(Error::BadName {
                name: name.to_string(),
            }),
        }
    }

    /// The plugins with a socket in the directory: name (the file name, `.sock` trimmed, as
    /// ListPlugins shows it) and socket path, in file name order as upstream probes them. Only
    /// sockets count; links are not followed.
    pub async fn list(&self) -> Result<Vec<(String, PathBuf)>, Error> {
        let failed = |e| Error::io(format!("listing plugins in {}", self.dir.display()), e);
        let mut dir = match tokio::fs::read_dir(&self.dir).await {
            Ok(dir) => dir,
            // No plugins directory: a deployment without sidecars.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(failed(e)),
        };
        let mut files = Vec::new();
        while let Some(entry) = dir.next_entry().await.map_err(failed)? {
            if entry.file_type().await.map_err(failed)?.is_socket() {
                files.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        // Ordered by file name, as Go's ReadDir: `a-b.sock` before `a.sock`.
        files.sort();
        Ok(files
            .into_iter()
            .map(|f| {
                let path = self.dir.join(&f);
                let name = f.strip_suffix(".sock").map(str::to_string).unwrap_or(f);
                (name, path)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_directory_has_no_plugins_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Sockets::new(dir.path().join("absent"));
        assert!(missing.list().await.unwrap().is_empty());
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(Sockets::new(file).list().await.is_err());
    }

    #[test]
    fn names_map_to_socket_files_inside_the_directory() {
        let s = Sockets::from_env(None);
        assert_eq!(s.dir(), Path::new(DEFAULT_SOCKET_DIR));
        assert_eq!(Sockets::from_env(Some("")), s);
        assert_eq!(
            s.path("vault-v1.0").unwrap(),
            Path::new("/home/argocd/cmp-server/plugins/vault-v1.0.sock")
        );
        for bad in ["", "../x", "a/b", "/etc/x", "a\0b"] {
            assert!(
                matches!(s.path(bad), Err(Error::BadName { .. })),
                "{bad:?} is refused"
            );
        }
    }
}
