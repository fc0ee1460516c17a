//! The repo-server side's archive: the files of a repository snapshot as upstream's
//! `tgzstream.CompressFiles` writes them, built in an unnamed temp file on the blocking pool.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use flate2::write::GzEncoder;
use globset::GlobMatcher;
use repo_source::RepoPath;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};
use walkdir::WalkDir;

use crate::scope::generate_root;
use crate::Error;

/// What to send to a plugin: the repository snapshot at `root` for the app at `app`. As
/// upstream, the whole repository is sent (the app's position in it is `appRelPath`) unless
/// [`Pack::generate_paths`] narrows it.
#[derive(Debug, Clone)]
pub struct Pack {
    root: PathBuf,
    app: RepoPath,
    base: RepoPath,
    exclude: Vec<String>,
}

/// A packed tree, ready to be streamed any number of times: cheap to clone, the temp file goes
/// with the last clone.
#[derive(Debug, Clone)]
pub struct Packed {
    pub(crate) file: Arc<File>,
    pub(crate) checksum: String,
    pub(crate) size: u64,
    pub(crate) app_name: String,
    pub(crate) app_rel_path: String,
}

impl Pack {
    pub fn new(root: impl Into<PathBuf>, app: RepoPath) -> Self {
        Self {
            root: root.into(),
            app,
            base: RepoPath::root(),
            exclude: Vec::new(),
        }
    }

    /// `--plugin-tar-exclude`: Go `filepath.Match` globs against paths relative to the sent
    /// directory; a matching directory is skipped whole.
    pub fn exclude(mut self, globs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.exclude = globs.into_iter().map(Into::into).collect();
        self
    }

    /// `--plugin-use-manifest-generate-paths`: send only the directory holding the app and the
    /// annotation's paths (see [`generate_root`]).
    pub fn generate_paths(mut self, annotation: &str) -> Self {
        self.base = generate_root(&self.app, annotation);
        self
    }

    /// Whether the whole repository is sent (no [`Pack::generate_paths`], or it names the
    /// root): an archive packed for discovery is then this one.
    pub fn is_whole(&self) -> bool {
        self.base.is_root()
    }

    /// Writes the archive on the blocking pool.
    pub async fn pack(self) -> Result<Packed, Error> {
        tokio::task::spawn_blocking(move || self.build())
            .await
            .map_err(|e| Error::io("packing the plugin archive", io::Error::other(e)))?
    }

    fn build(&self) -> Result<Packed, Error> {
        let exclude = self
            .exclude
            .iter()
            .map(|p| {
                repo_render::filepath_glob(p).map_err(|e| Error::Pattern {
                    pattern: p.clone(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Canonical and inside the root on disk, whatever links the path crosses.
        let dir = repo_render::confine(&self.root, self.base.as_str()).map_err(Error::Repo)?;
        let file = tempfile::tempfile().map_err(|e| Error::io("creating the plugin archive", e))?;
        let mut tee = Tee {
            out: BufWriter::new(file),
            hash: Sha256::new(),
            len: 0,
        };
        let gz = GzEncoder::new(&mut tee, flate2::Compression::fast());
        let (written, gz) = write_tree(&dir, &exclude, gz)?;
        gz.finish()
            .map_err(|e| Error::io("writing the plugin archive", e))?;
        if written == 0 {
            return Err(Error::NoFiles {
                root: self.base.to_string(),
            });
        }
        let file = tee
            .out
            .into_inner()
            .map_err(|e| Error::io("writing the plugin archive", e.into_error()))?;
        let app_name = match self.app.as_str().rsplit('/').next() {
            Some(".") | None => dir.file_name().map(|n| n.to_string_lossy().into_owned()),
            Some(last) => Some(last.to_string()),
        };
        Ok(Packed {
            file: Arc::new(file),
            checksum: hex::encode(tee.hash.finalize()),
            size: tee.len,
            app_name: app_name.unwrap_or_default(),
            app_rel_path: relative(&self.base, &self.app),
        })
    }
}

impl Packed {
    /// Lowercase hex SHA-256 of the archive, as the metadata's `checksum`.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }

    /// Bytes of the archive, as the metadata's `size`.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The app's directory relative to the sent one (`.` for itself), as `appRelPath`.
    pub fn app_rel_path(&self) -> &str {
        &self.app_rel_path
    }

    /// The app directory's base name, as upstream's `appName`.
    pub fn app_name(&self) -> &str {
        &self.app_name
    }
}

/// `app` relative to `base`, which holds it; `.` when they are the same.
fn relative(base: &RepoPath, app: &RepoPath) -> String {
    if base.is_root() {
        return app.to_string();
    }
    match app.as_str().strip_prefix(base.as_str()) {
        Some(rest) if rest.starts_with('/') => rest[1..].to_string(),
        _ => ".".to_string(),
    }
}

/// Writes the tar of everything under `dir`, in name order, without following links: regular
/// files, directories and symlinks (others are not sent, as upstream), modes' permission bits
/// and modification times kept, owners zeroed. Answers the number of regular files and `out`.
fn write_tree<W: Write>(dir: &Path, exclude: &[GlobMatcher], out: W) -> Result<(u64, W), Error> {
    let excluded = |path: &Path| {
        let rel = path.strip_prefix(dir).unwrap_or(path);
        exclude.iter().any(|g| g.is_match(rel))
    };
    let mut tar = tar::Builder::new(out);
    let mut files = 0;
    let walk = WalkDir::new(dir)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !excluded(e.path()));
    for entry in walk {
        let entry = entry.map_err(|e| Error::io("reading the app's files", e.into()))?;
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("walk stays below dir");
        let shown = || rel.to_string_lossy().into_owned();
        let failed = |e: io::Error| Error::io(format!("packing {}", shown()), e);
        let meta = entry.metadata().map_err(|e| failed(e.into()))?;
        let mut header = Header::new_gnu();
        header.set_mtime(
            meta.modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs()),
        );
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        let kind = entry.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(failed)?;
            if !repo_render::in_bounds(rel, &target) {
                return Err(Error::LinkEscapes { path: shown() });
            }
            header.set_entry_type(EntryType::Symlink);
            header.set_mode(0o777);
            tar.append_link(&mut header, rel, &target).map_err(failed)?;
        } else if kind.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_mode(mode(&meta));
            tar.append_data(&mut header, rel, io::empty())
                .map_err(failed)?;
        } else if kind.is_file() {
            let file = File::open(entry.path()).map_err(failed)?;
            header.set_entry_type(EntryType::Regular);
            header.set_mode(mode(&meta));
            header.set_size(meta.len());
            // Exactly the size in the header, should the file change meanwhile.
            tar.append_data(&mut header, rel, file.take(meta.len()))
                .map_err(failed)?;
            files += 1;
        }
    }
    let out = tar
        .into_inner()
        .map_err(|e| Error::io("writing the plugin archive", e))?;
    Ok((files, out))
}

/// Permission bits only: set-id and sticky bits mean nothing to the plugin's copy.
fn mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

/// Writes through to the file while hashing and counting.
struct Tee {
    out: BufWriter<File>,
    hash: Sha256,
    len: u64,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_unless_the_annotation_narrows_it() {
        let app = RepoPath::new("a/b").unwrap();
        assert!(Pack::new("/r", app.clone()).is_whole());
        assert!(Pack::new("/r", app.clone()).generate_paths("").is_whole());
        assert!(Pack::new("/r", app.clone()).generate_paths("/z").is_whole());
        assert!(!Pack::new("/r", app).generate_paths(".").is_whole());
    }
}
