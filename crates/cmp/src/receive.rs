//! The sidecar side's receiver: metadata, then the archive's chunks into a capped temp file,
//! checked against the declared size and checksum, then unpacked confined into a fresh
//! directory by the project's one confined unpacker.

use std::fs::Permissions;
use std::io::{self, BufReader, Seek};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use futures_util::{Stream, StreamExt};
use repo_proto::plugin::app_stream_request::Request;
use repo_proto::plugin::{AppStreamRequest, ManifestRequestMetadata};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::Error;

/// Caps on what one stream may hold. Upstream has none; these bound one request's disk use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the compressed archive.
    pub archive: u64,
    /// Bytes of the files unpacked.
    pub unpacked: u64,
    /// Entries (files, directories, links) in the archive.
    pub entries: u64,
}

impl Default for Limits {
    /// 1 GiB compressed, 4 GiB unpacked, a million entries: a large monorepo fits.
    fn default() -> Self {
        Self {
            archive: 1 << 30,
            unpacked: 4 << 30,
            entries: 1_000_000,
        }
    }
}

/// A received tree: the metadata, and the fresh directory holding the files (give it to
/// [`discard`] when done).
#[derive(Debug)]
pub struct Received {
    pub metadata: ManifestRequestMetadata,
    pub dir: TempDir,
}

impl Received {
    /// The app's directory, `appRelPath` resolved inside the received tree (canonical): an
    /// error if it leads outside or does not exist. Blocking.
    pub fn app_dir(&self) -> Result<PathBuf, Error> {
        repo_render::confine(self.dir.path(), &self.metadata.app_rel_path).map_err(Error::Repo)
    }
}

/// Receives one tree from `stream` into a fresh directory under `parent`. With
/// `preserve_mode` false, files get 0644 and directories 0755, as upstream; with true they
/// keep the archive's permission bits (never set-id or sticky bits).
pub async fn receive<S>(
    mut stream: S,
    parent: &Path,
    limits: Limits,
    preserve_mode: bool,
) -> Result<Received, Error>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let metadata = match stream.next().await {
        Some(Ok(AppStreamRequest {
            request: Some(Request::Metadata(m)),
        })) => m,
        Some(Err(status)) => return Err(Error::Stream(status)),
        _ => return Err(Error::NoMetadata),
    };
    let declared = u64::try_from(metadata.size).map_err(|_| Error::Size {
        declared: metadata.size,
        got: 0,
    })?;
    if declared > limits.archive {
        return Err(too_large("the declared archive", limits.archive));
    }
    let parent = parent.to_path_buf();
    let (dir, file) = blocking(move || {
        let dir = tempfile::Builder::new()
            .prefix("cmp-")
            .tempdir_in(&parent)
            .map_err(|e| Error::io("creating the plugin work directory", e))?;
        let file = tempfile::tempfile_in(&parent)
            .map_err(|e| Error::io("creating the plugin archive file", e))?;
        Ok((dir, file))
    })
    .await?;
    let outcome = async {
        let file = fill(&mut stream, file, &metadata, declared).await?;
        let dest = dir.path().to_path_buf();
        blocking(move || unpack(file, &dest, limits, preserve_mode)).await
    };
    match outcome.await {
        Ok(()) => Ok(Received { metadata, dir }),
        Err(e) => {
            discard(dir);
            Err(e)
        }
    }
}

/// Removes a received directory on the blocking pool (call it within the runtime),
/// directories the archive made read-only included (the unpacker applies entries' modes as it
/// goes).
pub fn discard(dir: TempDir) {
    let dir = dir.keep();
    tokio::task::spawn_blocking(move || {
        if std::fs::remove_dir_all(&dir).is_ok() {
            return;
        }
        for entry in walkdir::WalkDir::new(&dir).into_iter().flatten() {
            if entry.file_type().is_dir() {
                // Best effort: what stays fails the removal below, which is logged.
                let _ = std::fs::set_permissions(entry.path(), Permissions::from_mode(0o700));
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::error!(error = %e, "removing a plugin work directory failed");
        }
    });
}

/// Writes the chunks to `file`, refusing more than declared, then checks the size and
/// checksum.
async fn fill<S>(
    stream: &mut S,
    file: std::fs::File,
    metadata: &ManifestRequestMetadata,
    declared: u64,
) -> Result<std::fs::File, Error>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let mut out = BufWriter::with_capacity(64 * 1024, tokio::fs::File::from_std(file));
    let mut hash = Sha256::new();
    let mut got = 0u64;
    while let Some(message) = stream.next().await {
        let chunk = match message.map_err(Error::Stream)?.request {
            Some(Request::File(f)) => f.chunk,
            Some(Request::Metadata(_)) => return Err(Error::MetadataTwice),
            None => return Err(Error::EmptyMessage),
        };
        got += chunk.len() as u64;
        // The declared size is within the cap: holding to it holds to the cap.
        if got > declared {
            return Err(Error::Size {
                declared: metadata.size,
                got,
            });
        }
        hash.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| Error::io("writing the plugin archive", e))?;
    }
    if got != declared {
        return Err(Error::Size {
            declared: metadata.size,
            got,
        });
    }
    if hex::encode(hash.finalize()) != metadata.checksum {
        return Err(Error::Checksum);
    }
    out.flush()
        .await
        .map_err(|e| Error::io("writing the plugin archive", e))?;
    Ok(out.into_inner().into_std().await)
}

fn unpack(mut file: std::fs::File, dir: &Path, limits: Limits, keep: bool) -> Result<(), Error> {
    file.rewind()
        .map_err(|e| Error::io("reading the plugin archive", e))?;
    let reader = BufReader::with_capacity(64 * 1024, file);
    repo_render::unpack(
        reader,
        dir,
        limits.unpacked,
        limits.entries,
        "plugin archive",
    )
    .map_err(|e| match e {
        // The unpacker names its entry cap `…, in entries,`.
        repo_render::Error::TooLarge { what, limit } if what.ends_with("in entries,") => {
            too_large_unit("the archive's entries", limit, "entries")
        }
        repo_render::Error::TooLarge { limit, .. } => too_large("the unpacked files", limit),
        other => Error::Archive(other),
    })?;
    if !keep {
        normalize_modes(dir)?;
    }
    Ok(())
}

/// Upstream's modes without `preserveFileMode`: 0644 files, 0755 directories.
fn normalize_modes(dir: &Path) -> Result<(), Error> {
    // The directory itself stays private (0700).
    for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| Error::io("reading the received files", e.into()))?;
        let mode = match entry.file_type() {
            t if t.is_dir() => 0o755,
            t if t.is_file() => 0o644,
            _ => continue,
        };
        std::fs::set_permissions(entry.path(), Permissions::from_mode(mode))
            .map_err(|e| Error::io("setting the received files' modes", e))?;
    }
    Ok(())
}

fn too_large(what: &'static str, limit: u64) -> Error {
    too_large_unit(what, limit, "bytes")
}

fn too_large_unit(what: &'static str, limit: u64, unit: &'static str) -> Error {
    Error::TooLarge { what, limit, unit }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("plugin stream", io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn discard_removes_read_only_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir_in(tmp.path()).unwrap();
        let path = dir.path().to_path_buf();
        std::fs::create_dir_all(path.join("ro/sub")).unwrap();
        std::fs::set_permissions(path.join("ro"), Permissions::from_mode(0o500)).unwrap();
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
