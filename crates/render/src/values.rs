//! Helm value files and `--set-file` paths, resolved as upstream's `getResolvedValueFiles`:
//! `$VAR` substitution, then one of
//! - `$name/…` naming a `refSources` entry: inside that source's snapshot, from its root;
//! - a URL: kept when its scheme is allowed (`helmOptions.valuesFileSchemes`), else refused;
//! - otherwise inside the app's repository (relative to the app, or to the root with a leading
//!   `/`),
//!
//! then glob expansion in lexical order with explicitly listed files keeping their own
//! position, and de-duplication. Every path stays inside its root, `..` and symlinks included.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use globset::GlobBuilder;

use crate::root::{relative, Root};
use crate::walk::tree;
use crate::Error;

/// Fetches a remote value file (`https://…`). The server supplies it, with its limits; no
/// credentials of the app's repository go with it.
pub trait Fetch: Send + Sync + std::fmt::Debug {
    fn fetch<'a>(
        &'a self,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, Error>> + Send + 'a>>;
}

/// Where value files may come from besides the app's own repository.
#[derive(Debug, Clone, Copy, Default)]
pub struct Values<'a> {
    /// Roots of the other sources (`refSources`) by `$name`: immutable snapshots, read in
    /// place.
    pub refs: &'a [(String, PathBuf)],
    /// URL schemes a value file may use (`helmOptions.valuesFileSchemes`); none when empty.
    pub schemes: &'a [String],
    /// Fetches remote value files; without it they are refused.
    pub fetch: Option<&'a dyn Fetch>,
}

/// Where value files are looked up.
pub(crate) struct Place<'a> {
    /// Canonical root of the app's repository.
    pub root: &'a Path,
    /// App directory, relative to `root`.
    pub app: &'a Path,
    pub values: Values<'a>,
    /// `$VAR` substitution (upstream's `Env.Envsubst`).
    pub subst: &'a (dyn Fn(&str) -> String + Sync),
}

/// A value file found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Found {
    /// In the app's repository, relative to its root.
    Repo(String),
    /// In another source's snapshot: its real path there.
    Ref(PathBuf),
    /// A URL with an allowed scheme.
    Remote(String),
    /// An explicitly listed file that does not exist, as requested.
    Missing(String),
}

/// What a raw value file names before globbing.
enum Wanted {
    /// `rel` (lexically normalized) below the canonical `root`; `repo` when it is the app's.
    In {
        root: PathBuf,
        rel: String,
        repo: bool,
    },
    Remote(String),
}

/// Resolved value files in the order helm should read them. With `ignore_missing`, files and
/// globs that find nothing are left out; without, a glob that matches nothing is an error and
/// a missing file is reported as [`Found::Missing`].
pub(crate) fn value_files(
    place: &Place<'_>,
    raw: &[String],
    ignore_missing: bool,
) -> Result<Vec<Found>, Error> {
    let wanted: Vec<(&String, Wanted)> = raw
        .iter()
        .map(|r| Ok((r, wanted(place, r)?)))
        .collect::<Result<_, Error>>()?;
    // Files listed explicitly keep their own position, never a glob's.
    let explicit: HashSet<Found> = wanted
        .iter()
        .filter_map(|(_, w)| match w {
            Wanted::In { root, rel, repo } if !is_glob(rel) => found(root, rel, *repo).ok(),
            _ => None,
        })
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (raw, wanted) in wanted {
        let files = match wanted {
            Wanted::Remote(url) => vec![Found::Remote(url)],
            Wanted::In { root, rel, repo } if is_glob(&rel) => {
                let matches = glob(&root, &rel)?;
                if matches.is_empty() && !ignore_missing {
                    return Err(Error::NotFound { path: raw.clone() });
                }
                matches
                    .into_iter()
                    .map(|m| {
                        if repo {
                            Found::Repo(m)
                        } else {
                            Found::Ref(root.join(m))
                        }
                    })
                    .filter(|f| !explicit.contains(f))
                    .collect()
            }
            Wanted::In { root, rel, repo } => match found(&root, &rel, repo) {
                Ok(f) => vec![f],
                Err(Error::NotFound { .. }) if ignore_missing => vec![],
                Err(Error::NotFound { .. }) => vec![Found::Missing(raw.clone())],
                Err(e) => return Err(e.named(raw)),
            },
        };
        for f in files {
            if seen.insert(f.clone()) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// One `--set-file` path, which must exist (or be a URL with an allowed scheme).
pub(crate) fn file(place: &Place<'_>, raw: &str) -> Result<Found, Error> {
    match wanted(place, raw)? {
        Wanted::Remote(url) => Ok(Found::Remote(url)),
        Wanted::In { root, rel, repo } => found(&root, &rel, repo).map_err(|e| e.named(raw)),
    }
}

/// The existing file `rel` names below `root`, symlinks followed inside it.
fn found(root: &Path, rel: &str, repo: bool) -> Result<Found, Error> {
    let real = Root::new(root)?.resolve(rel)?;
    Ok(if repo {
        Found::Repo(relative(root, &real))
    } else {
        Found::Ref(real)
    })
}

impl Error {
    /// A path error reported under the name the request used.
    fn named(self, raw: &str) -> Self {
        match self {
            Error::NotFound { .. } => Error::NotFound {
                path: raw.to_string(),
            },
            Error::OutOfBounds { .. } => Error::OutOfBounds {
                path: raw.to_string(),
            },
            e => e,
        }
    }
}

/// Where `raw` points, before globbing and symlinks.
fn wanted(place: &Place<'_>, raw: &str) -> Result<Wanted, Error> {
    if let Some((name, rest)) = reference(raw) {
        if let Some((_, root)) = place.values.refs.iter().find(|(n, _)| n == name) {
            // Substituted after the ref is taken off, and always from the other source's root.
            let path = (place.subst)(&format!("/{rest}"));
            let root = Root::new(root)?.path().to_path_buf();
            let rel = normalize(Path::new(&path), raw)?;
            return Ok(Wanted::In {
                root,
                rel,
                repo: false,
            });
        }
    }
    let path = (place.subst)(raw);
    if let Some(scheme) = scheme(&path) {
        let scheme = scheme.to_ascii_lowercase();
        if !place
            .values
            .schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&scheme))
        {
            return Err(Error::InvalidArgument(format!(
                "the URL scheme '{scheme}' is not allowed"
            )));
        }
        return Ok(Wanted::Remote(path));
    }
    let joined = match path.strip_prefix('/') {
        Some(from_root) => PathBuf::from(from_root),
        None => place.app.join(&path),
    };
    Ok(Wanted::In {
        root: place.root.to_path_buf(),
        rel: normalize(&joined, raw)?,
        repo: true,
    })
}

/// `$name` and the rest of a value file that starts with `$`.
fn reference(raw: &str) -> Option<(&str, &str)> {
    if !raw.starts_with('$') {
        return None;
    }
    Some(raw.split_once('/').unwrap_or((raw, "")))
}

/// `path` with `.` and `..` applied, relative to its root; leaving the root, or naming it, is
/// an error.
fn normalize(path: &Path, raw: &str) -> Result<String, Error> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
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

/// Files matching `pattern` (relative to `root`; `**` spans directories), sorted. A match
/// whose real path leaves the root is an error.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn place<'a>(
        root: &'a Path,
        refs: &'a [(String, PathBuf)],
        schemes: &'a [String],
    ) -> Place<'a> {
        Place {
            root,
            app: Path::new("app"),
            values: Values {
                refs,
                schemes,
                fetch: None,
            },
            subst: &|s: &str| s.replace("$ENV", "prod"),
        }
    }

    #[test]
    fn refs_resolve_in_their_own_root_and_stay_inside_it() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(a.path().join("app")).unwrap();
        std::fs::create_dir_all(b.path().join("envs")).unwrap();
        std::fs::write(b.path().join("envs/prod.yaml"), "x: 1\n").unwrap();
        std::fs::write(a.path().join("secret.yaml"), "x: 1\n").unwrap();
        std::os::unix::fs::symlink(
            a.path().join("secret.yaml"),
            b.path().join("envs/link.yaml"),
        )
        .unwrap();
        let root = a.path().canonicalize().unwrap();
        let refs = vec![("$values".to_string(), b.path().to_path_buf())];
        let p = place(&root, &refs, &[]);
        let b_real = b.path().canonicalize().unwrap();
        assert_eq!(
            value_files(&p, &["$values/envs/$ENV.yaml".into()], false).unwrap(),
            [Found::Ref(b_real.join("envs/prod.yaml"))]
        );
        assert_eq!(
            value_files(&p, &["$values/envs/*.yaml".into()], false)
                .unwrap_err()
                .to_string(),
            Error::OutOfBounds {
                path: "envs/link.yaml".into()
            }
            .to_string()
        );
        for raw in ["$values/../secret.yaml", "$values/envs/link.yaml"] {
            match file(&p, raw) {
                Err(Error::OutOfBounds { path }) => assert_eq!(path, raw),
                other => panic!("{raw}: {other:?}"),
            }
        }
        // A `$name` that is no ref source is a path in the app's repository.
        assert_eq!(
            value_files(&p, &["$other/x.yaml".into()], false).unwrap(),
            [Found::Missing("$other/x.yaml".into())]
        );
    }

    #[test]
    fn urls_need_an_allowed_scheme() {
        let a = tempfile::tempdir().unwrap();
        let root = a.path().canonicalize().unwrap();
        let https = vec!["https".to_string()];
        let p = place(&root, &[], &https);
        assert_eq!(
            value_files(&p, &["HTTPS://h/v.yaml".into()], false).unwrap(),
            [Found::Remote("HTTPS://h/v.yaml".into())]
        );
        match file(&p, "http://h/v.yaml") {
            Err(Error::InvalidArgument(m)) => assert_eq!(m, "the URL scheme 'http' is not allowed"),
            other => panic!("{other:?}"),
        }
        let none = place(&root, &[], &[]);
        assert!(matches!(
            value_files(&none, &["https://h/v.yaml".into()], false),
            Err(Error::InvalidArgument(_))
        ));
    }
}
