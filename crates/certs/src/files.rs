//! Writing a set of files all or nothing: each file is first written to a temporary file in its
//! own directory, and only once every one is on disk are they renamed into place.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{random, Error};

/// A file to write. Private files (keys, and manifests that embed keys) get mode 0600.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub path: PathBuf,
    pub contents: String,
    pub private: bool,
}

/// Refuses targets that exist, unless `force`; refuses directories always, since renaming a file
/// over one fails only after other files are already in place.
pub(crate) fn preflight<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    force: bool,
) -> Result<(), Error> {
    for path in paths {
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        let path = path.to_path_buf();
        if meta.is_dir() {
            return Err(Error::Directory { path });
        }
        if !force {
            return Err(Error::Exists { path });
        }
    }
    Ok(())
}

/// Files of an unfinished write: temporaries to delete, and new files already renamed into
/// place that must go too. Cleaned up on drop, so an error leaves the directory as it was
/// (except that files replaced under `--force` stay replaced).
#[derive(Default)]
struct Undo {
    temporaries: Vec<PathBuf>,
    placed: Vec<PathBuf>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        for path in self.temporaries.iter().chain(&self.placed) {
            let _ = fs::remove_file(path);
        }
    }
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg_attr(not(unix), allow(unused_variables))]
fn options(private: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    options
}

fn stage(out: &Output, undo: &mut Undo) -> Result<PathBuf, Error> {
    let dir = out.path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(write_error(dir))?;
    let name = out.path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", random::suffix()?));
    let mut file = options(out.private)
        .open(&tmp)
        .map_err(write_error(&out.path))?;
    undo.temporaries.push(tmp.clone());
    file.write_all(out.contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_error(&out.path))?;
    Ok(tmp)
}

/// Writes every output, or none of them.
pub(crate) fn write_all(outputs: &[Output], force: bool) -> Result<(), Error> {
    // Checked again: files may have appeared while the keys were being generated.
    preflight(outputs.iter().map(|o| o.path.as_path()), force)?;
    let mut undo = Undo::default();
    let mut staged = Vec::with_capacity(outputs.len());
    for out in outputs {
        staged.push((stage(out, &mut undo)?, out));
    }
    for (tmp, out) in staged {
        let existed = out.path.symlink_metadata().is_ok();
        fs::rename(&tmp, &out.path).map_err(write_error(&out.path))?;
        if !existed {
            undo.placed.push(out.path.clone());
        }
    }
    undo.temporaries.clear();
    undo.placed.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(path: PathBuf, private: bool) -> Output {
        Output {
            path,
            contents: "x".into(),
            private,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_private_files_0600_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("sub/a.key");
        let crt = dir.path().join("a.crt");
        write_all(&[output(key.clone(), true), output(crt, false)], false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(names(dir.path()), ["a.crt", "sub"]);
        assert_eq!(names(&dir.path().join("sub")), ["a.key"]);
    }

    #[test]
    fn existing_files_need_force_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let crt = dir.path().join("a.crt");
        fs::write(&crt, "old").unwrap();
        let err = write_all(&[output(crt.clone(), false)], false).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        assert_eq!(fs::read_to_string(&crt).unwrap(), "old");
        write_all(&[output(crt.clone(), false)], true).unwrap();
        assert_eq!(fs::read_to_string(&crt).unwrap(), "x");
        let err = preflight([dir.path()], true).unwrap_err();
        assert!(matches!(err, Error::Directory { .. }), "{err}");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.crt");
        // The second file's parent is a regular file, so staging it fails after the first.
        fs::write(dir.path().join("plain"), "").unwrap();
        let err = write_all(
            &[
                output(first, false),
                output(dir.path().join("plain/second.crt"), false),
            ],
            false,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err}");
        assert_eq!(names(dir.path()), ["plain"]);
    }
}
