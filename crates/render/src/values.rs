//! Helm value files and `--set-file` paths: `$VAR` substitution, then resolution inside the
//! repository (relative to the app, or to the root with a leading `/`), glob expansion in
//! lexical order with explicitly listed files keeping their own position, and de-duplication.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use globset::GlobBuilder;

use crate::job::Job;
use crate::root::{confine, relative, Root};
use crate::walk::tree;
use crate::Error;

/// Resolved value files, as paths in the private mirror, in the order helm should read them.
pub(crate) fn value_files(
    job: &Job<'_>,
    raw: &[String],
    ignore_missing: bool,
) -> Result<Vec<PathBuf>, Error> {
    let wanted: Vec<(String, String)> = raw
        .iter()
        .map(|r| Ok((r.clone(), in_repo(job, r)?)))
        .collect::<Result<_, Error>>()?;
    let explicit: HashSet<&str> = wanted
        .iter()
        .filter(|(_, p)| !is_glob(p))
        .map(|(_, p)| p.as_str())
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (raw, path) in &wanted {
        let found = if is_glob(path) {
            let matches = glob(&job.root, path)?;
            if matches.is_empty() && !ignore_missing {
                return Err(Error::NotFound { path: raw.clone() });
            }
            matches
                .into_iter()
                .filter(|m| !explicit.contains(m.as_str()))
                .collect()
        } else {
            match confine(&job.root, path) {
                Ok(real) => vec![relative(&job.root, &real)],
                Err(Error::NotFound { .. }) if ignore_missing => vec![],
                Err(Error::NotFound { .. }) => return Err(Error::NotFound { path: raw.clone() }),
                Err(e) => return Err(e),
            }
        };
        for rel in found {
            if seen.insert(rel.clone()) {
                out.push(job.work.join(rel));
            }
        }
    }
    Ok(out)
}

/// One existing file (`--set-file`), as a path in the private mirror.
pub(crate) fn file(job: &Job<'_>, raw: &str) -> Result<PathBuf, Error> {
    let real = confine(&job.root, &in_repo(job, raw)?).map_err(|e| match e {
        Error::NotFound { .. } => Error::NotFound {
            path: raw.to_string(),
        },
        e => e,
    })?;
    Ok(job.work.join(relative(&job.root, &real)))
}

/// The repository-relative, lexically normalized path a value file names.
fn in_repo(job: &Job<'_>, raw: &str) -> Result<String, Error> {
    let path = job.env.subst(raw);
    if let Some(scheme) = scheme(&path) {
        return Err(Error::Unsupported {
            what: format!("remote value file {raw:?} ({scheme}:)"),
        });
    }
    let joined = match path.strip_prefix('/') {
        Some(from_root) => PathBuf::from(from_root),
        None => job.app.join(&path),
    };
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in joined.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => {
                parts.pop().ok_or_else(|| Error::OutOfBounds {
                    path: raw.to_string(),
                })?;
            }
            _ => {}
        }
    }
    let rel: PathBuf = parts.iter().collect();
    let rel = rel.to_string_lossy().into_owned();
    if rel.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "value file {raw:?} names the repository root"
        )));
    }
    Ok(rel)
}

/// The URL scheme `path` starts with, as Go's `url.Parse` would find it.
fn scheme(path: &str) -> Option<&str> {
    let (head, _) = path.split_once(':')?;
    let mut chars = head.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    ok.then_some(head)
}

fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Files matching `pattern` (repository-relative; `**` spans directories), sorted. A match
/// whose real path leaves the repository is an error.
fn glob(root: &Path, pattern: &str) -> Result<Vec<String>, Error> {
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("value file glob {pattern:?}: {e}")))?
        .compile_matcher();
    let fixed: PathBuf = Path::new(pattern)
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    let content = Root::new(root)?;
    let base = match content.resolve(&fixed.to_string_lossy()) {
        Ok(base) => base,
        Err(Error::NotFound { .. }) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in tree(&base) {
        let entry = entry?;
        let rel = relative(root, entry.path());
        if entry.file_type().is_dir() || !matcher.is_match(&rel) {
            continue;
        }
        // Confining the match resolves symlinks, as upstream checks glob matches.
        let real = content.follow(entry.path())?;
        if real.is_file() {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}
