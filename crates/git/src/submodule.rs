//! Submodules in snapshots, as upstream's `git submodule update --init --recursive` after a
//! checkout: every gitlink that `.gitmodules` maps to a URL is filled with the tree of the
//! commit the superproject records, read from the submodule's own mirror (cached and fetched
//! like any repository, keyed by its normalized URL), level by level down to [`MAX_DEPTH`].
//!
//! What `.gitmodules` says is the repository author's input, so:
//! - a URL passes the same parsing (no `ext::`, no option-like URLs) and transport rules (no
//!   `file://` unless file repositories are allowed) as a requested repository;
//! - a path is plain (no `..`, `.`, empty or `.git` parts) and is written only through real
//!   directories of the snapshot, never through a symlink;
//! - depth and count are bounded;
//! - credentials go only where they came from. Upstream hands the parent's credentials to
//!   every submodule whatever its host; here the top repository's credentials (and URL
//!   userinfo) go to a submodule only on the same scheme, host and port, so a `.gitmodules`
//!   entry cannot send them to another server or over plain http. Elsewhere a submodule is
//!   fetched anonymously, keeping only the non-secret known hosts and proxy settings.
//!
//! A gitlink without a URL in `.gitmodules`, or with `update = none`, stays an empty directory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use repo_source::{Creds, Remote, Transport};

use crate::run::{Call, Git};
use crate::{classify, snapshot, Cache, Error, Repo};

/// Levels of submodules inside submodules; a deeper one fails the snapshot.
pub(crate) const MAX_DEPTH: usize = 5;
/// Submodules in one snapshot, all levels together; more fail it.
pub(crate) const MAX_COUNT: usize = 100;

/// The submodules of one snapshot, filled in or found, with the credentials of one request.
pub(crate) struct Modules<'a> {
    cache: &'a Cache,
    /// The requested repository: its credentials are the ones submodules may use.
    top: &'a Repo,
    /// Every submodule met, all levels, by its path in the snapshot.
    pub(crate) found: Vec<(String, Remote)>,
}

/// The submodules of the snapshots built with them, so that a cache hit can make sure the
/// request's credentials read those too. Bounded: emptied when full, and a snapshot missing
/// here (also after a restart) has its submodules found again.
pub(crate) struct Known(Mutex<HashMap<(String, String), Found>>);

/// Submodules by their path in the snapshot.
pub(crate) type Found = Arc<[(String, Remote)]>;

/// Snapshots remembered at most.
const KNOWN_CAPACITY: usize = 65_536;

impl Known {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    pub(crate) fn get(&self, id: &str, sha: &str) -> Option<Found> {
        self.0
            .lock()
            .get(&(id.to_string(), sha.to_string()))
            .cloned()
    }

    pub(crate) fn insert(&self, id: &str, sha: &str, found: Vec<(String, Remote)>) -> Found {
        let found: Found = found.into();
        let mut known = self.0.lock();
        if known.len() >= KNOWN_CAPACITY {
            known.clear();
        }
        known.insert((id.to_string(), sha.to_string()), found.clone());
        found
    }
}

/// One repository whose submodules are to be filled: the top one or a submodule.
struct Level {
    /// Its place in the snapshot, `/`-terminated, empty for the top.
    prefix: String,
    /// Its URL, which relative submodule URLs are resolved against.
    url: String,
    mirror: PathBuf,
    sha: String,
    depth: usize,
}

/// A `.gitmodules` entry.
#[derive(Debug, Default)]
struct Entry {
    path: Option<String>,
    url: Option<String>,
    skip: bool,
}

impl<'a> Modules<'a> {
    pub(crate) fn new(cache: &'a Cache, top: &'a Repo) -> Self {
        Self {
            cache,
            top,
            found: Vec::new(),
        }
    }

    /// Fills the submodules of commit `sha` of `mirror`, already checked out into `tree`,
    /// using `work` for private index files.
    pub(crate) async fn check_out(
        &mut self,
        git: &Git,
        mirror: &Path,
        sha: &str,
        tree: &Path,
        work: &Path,
    ) -> Result<(), Error> {
        self.walk(git, mirror, sha, tree, Some(work)).await
    }

    /// Finds, without writing anything, the submodules of a snapshot built with them at
    /// `tree`, fetching only what a mirror lacks.
    pub(crate) async fn find(
        &mut self,
        git: &Git,
        mirror: &Path,
        sha: &str,
        tree: &Path,
    ) -> Result<(), Error> {
        self.walk(git, mirror, sha, tree, None).await
    }

    async fn walk(
        &mut self,
        git: &Git,
        mirror: &Path,
        sha: &str,
        tree: &Path,
        work: Option<&Path>,
    ) -> Result<(), Error> {
        let mut levels = vec![Level {
            prefix: String::new(),
            url: self.top.remote.url.clone(),
            mirror: mirror.to_path_buf(),
            sha: sha.to_string(),
            depth: 0,
        }];
        let mut count = 0;
        while let Some(level) = levels.pop() {
            for (path, url, commit) in self.list(git, &level, tree).await? {
                let full = format!("{}{path}", level.prefix);
                let named = |e: Error| named(&full, &url, e);
                count += 1;
                if level.depth + 1 > MAX_DEPTH {
                    return Err(named(Error::invalid(
                        &url,
                        format!("submodules nested more than {MAX_DEPTH} levels deep"),
                    )));
                }
                if count > MAX_COUNT {
                    return Err(named(Error::invalid(
                        &url,
                        format!("more than {MAX_COUNT} submodules in one snapshot"),
                    )));
                }
                let resolved = resolve(&level.url, &url).map_err(|r| Error::invalid(&url, r));
                let remote = resolved
                    .and_then(|u| Remote::parse(&u).map_err(Error::from))
                    .map_err(named)?;
                let repo = self.repo(remote);
                // From here on, named by the URL it resolved to.
                let named = |e: Error| self::named(&full, &repo.remote.url, e);
                let module = self.cache.module(&repo, &commit).await.map_err(named)?;
                if let Some(work) = work {
                    let dir = {
                        let (tree, full) = (tree.to_path_buf(), full.clone());
                        tokio::task::spawn_blocking(move || place(&tree, &full))
                            .await
                            .map_err(|e| Error::internal(&repo.remote.url, e.to_string()))?
                            .map_err(|e| named(Error::internal(&repo.remote.url, e.to_string())))?
                    };
                    let index = work.join(format!("index-{count}"));
                    snapshot::read_tree(git, &repo.remote.url, &module, &commit, &dir, &index)
                        .await
                        .map_err(named)?;
                }
                self.found.push((full.clone(), repo.remote.clone()));
                levels.push(Level {
                    prefix: format!("{full}/"),
                    url: repo.remote.url.clone(),
                    mirror: module,
                    sha: commit,
                    depth: level.depth + 1,
                });
            }
        }
        Ok(())
    }

    /// The submodules of a level to fill: (path, URL as written, recorded commit), by path.
    async fn list(
        &self,
        git: &Git,
        level: &Level,
        tree: &Path,
    ) -> Result<Vec<(String, String, String)>, Error> {
        let top = &self.top.remote.url;
        // git ignores a `.gitmodules` that is not a regular file (a symlink), and so do we.
        let file = tree.join(&level.prefix).join(".gitmodules");
        match tokio::fs::symlink_metadata(&file).await {
            Ok(meta) if meta.is_file() => {}
            _ => return Ok(Vec::new()),
        }
        let blob = format!("{}:.gitmodules", level.sha);
        let out = git
            .run(
                Call::new()
                    .git_dir(&level.mirror)
                    .args(["config", "-z", "--blob", &blob, "--list"]),
            )
            .await
            .map_err(|f| classify::local(top, "config", f))?;
        let entries = entries(&String::from_utf8_lossy(&out));
        if entries.len() > MAX_COUNT {
            return Err(Error::invalid(
                top,
                format!(
                    "{}.gitmodules names more than {MAX_COUNT} submodules",
                    level.prefix
                ),
            ));
        }
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for entry in entries.into_values().filter(|e| !e.skip) {
            let (Some(path), Some(url)) = (entry.path, entry.url) else {
                continue;
            };
            let full = format!("{}{path}", level.prefix);
            let path = plain(&path).map_err(|r| named(&full, &url, Error::invalid(&url, r)))?;
            wanted.insert(path, url);
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let out = git
            .run(
                Call::new()
                    .git_dir(&level.mirror)
                    .args(["ls-tree", "-z", "--end-of-options", &level.sha, "--"])
                    .args(wanted.keys())
                    // Paths from `.gitmodules` are names, not patterns.
                    .env("GIT_LITERAL_PATHSPECS", "1"),
            )
            .await
            .map_err(|f| classify::local(top, "ls-tree", f))?;
        let links = gitlinks(&String::from_utf8_lossy(&out));
        Ok(wanted
            .into_iter()
            .filter_map(|(path, url)| {
                let commit = links.get(&path)?.clone();
                Some((path, url, commit))
            })
            .collect())
    }

    /// The submodule as a repository, with the credentials it may use.
    pub(crate) fn repo(&self, mut remote: Remote) -> Repo {
        let top = self.top;
        if origin(&remote.key) == origin(&top.remote.key) {
            remote.userinfo = remote.userinfo.or_else(|| top.remote.userinfo.clone());
            // Submodules' LFS objects stay pointers, as upstream (`git lfs fetch` runs in the
            // superproject only).
            return Repo {
                remote,
                creds: top.creds.clone(),
                lfs: false,
            };
        }
        // The proxy applies to http(s) only: an ssh submodule connects directly, as upstream.
        let web = matches!(remote.transport, Transport::Http | Transport::Https);
        let creds = Creds {
            known_hosts: top.creds.known_hosts.clone(),
            proxy: if web {
                top.creds.proxy.clone()
            } else {
                String::new()
            },
            no_proxy: top.creds.no_proxy.clone(),
            ..Creds::default()
        };
        Repo {
            remote,
            creds: Arc::new(creds),
            lfs: false,
        }
    }
}

/// `scheme://host[:port]` of a normalized URL.
fn origin(key: &str) -> &str {
    let Some((scheme, rest)) = key.split_once("://") else {
        return key;
    };
    let host = rest.find('/').unwrap_or(rest.len());
    &key[..scheme.len() + 3 + host]
}

/// An error about a submodule, named by its path and URL.
pub(crate) fn named(path: &str, url: &str, error: Error) -> Error {
    let url = format!("{} (submodule {path})", repo_source::display(url));
    match error {
        Error::NotFound { what, .. } => Error::NotFound { url, what },
        Error::InvalidArgument { reason, .. } => Error::InvalidArgument { url, reason },
        Error::Unavailable { detail, .. } => Error::Unavailable { url, detail },
        Error::Unauthenticated { detail, .. } => Error::Unauthenticated { url, detail },
        Error::Timeout { op, after, .. } => Error::Timeout { url, op, after },
        Error::Internal { detail, .. } => Error::Internal { url, detail },
        setup @ Error::Setup { .. } => setup,
    }
}

/// The `submodule.<name>.{path,url,update}` values of `git config -z --list` output, by name.
fn entries(listing: &str) -> BTreeMap<String, Entry> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for item in listing.split('\0') {
        let Some((key, value)) = item.split_once('\n') else {
            continue;
        };
        let Some((name, field)) = key
            .strip_prefix("submodule.")
            .and_then(|k| k.rsplit_once('.'))
        else {
            continue;
        };
        let entry = entries.entry(name.to_string()).or_default();
        match field {
            "path" => entry.path = Some(value.to_string()),
            "url" => entry.url = Some(value.to_string()),
            "update" => entry.skip = value == "none",
            _ => {}
        }
    }
    entries
}

/// Path to commit of the gitlinks in `git ls-tree -z` output.
fn gitlinks(listing: &str) -> HashMap<String, String> {
    listing
        .split('\0')
        .filter_map(|line| {
            let (meta, path) = line.split_once('\t')?;
            let mut parts = meta.split(' ');
            let (mode, _, commit) = (parts.next()?, parts.next()?, parts.next()?);
            (mode == "160000").then(|| (path.to_string(), commit.to_string()))
        })
        .collect()
}

/// A submodule path that names a place inside the snapshot by its text: relative, and only
/// plain parts (no `..`, `.`, empty part or `.git`). One trailing `/` is dropped.
fn plain(path: &str) -> Result<String, String> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let bad = |part: &str| {
        part.is_empty() || part == "." || part == ".." || part.eq_ignore_ascii_case(".git")
    };
    if path.split('/').any(bad) || path.starts_with('-') || path.contains('\0') {
        return Err(format!(
            "submodule path {path:?} must be relative and plain (no '..', '.', '.git' or empty parts)"
        ));
    }
    Ok(path.to_string())
}

/// A submodule URL: relative ones (`./x`, `../x`) resolved against the parent's URL as git
/// does, without climbing above its host.
fn resolve(base: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return Ok(url.to_string());
    }
    let above = || format!("relative submodule URL {url:?} leads above the host of {base}");
    // Where the path starts: after `scheme://host`, after scp-like `host:`, else at once.
    let root = match base.find("://") {
        Some(at) => base[at + 3..].find('/').map_or(base.len(), |p| at + 3 + p),
        None => base
            .find(':')
            .filter(|&c| !base[..c].contains('/'))
            .map_or(0, |c| c + 1),
    };
    let mut base = base.trim_end_matches('/').to_string();
    let mut rest = url;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            if base.len() <= root {
                return Err(above());
            }
            let cut = base[root..].rfind('/').map_or(root, |p| root + p);
            base.truncate(cut);
            rest = r;
        } else {
            break;
        }
    }
    let joint = if base.is_empty() || base.ends_with(':') {
        ""
    } else {
        "/"
    };
    Ok(format!("{base}{joint}{rest}"))
}

/// The directory for the submodule at `path` in `tree`, created if missing; every part of
/// the way must be a real directory, not a symlink or a file.
fn place(tree: &Path, path: &str) -> std::io::Result<PathBuf> {
    let mut dir = tree.to_path_buf();
    for part in path.split('/') {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "submodule path {path} passes through a symlink or a file"
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(&dir)?,
            Err(e) => return Err(e),
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_parent_like_git() {
        let ok = |base: &str, url: &str| resolve(base, url).unwrap();
        assert_eq!(
            ok("https://h/org/app.git", "../lib.git"),
            "https://h/org/lib.git"
        );
        assert_eq!(ok("https://h/org/app.git/", "../lib"), "https://h/org/lib");
        assert_eq!(ok("https://h/org/app", "./sub"), "https://h/org/app/sub");
        assert_eq!(ok("https://h/org/app", "../../x"), "https://h/x");
        assert_eq!(ok("git@h:org/app.git", "../lib.git"), "git@h:org/lib.git");
        assert_eq!(ok("git@h:app.git", "../lib.git"), "git@h:lib.git");
        assert_eq!(ok("/srv/git/app.git", "../lib.git"), "/srv/git/lib.git");
        assert_eq!(ok("https://h/a", "https://other/b"), "https://other/b");
        assert_eq!(ok("https://h/a", "ext::sh -c x"), "ext::sh -c x");
        for (base, url) in [
            ("https://h/org/app", "../../../x"),
            ("git@h:app.git", "../../x"),
            ("https://h", "../x"),
        ] {
            let err = resolve(base, url).unwrap_err();
            assert!(err.contains("leads above the host"), "{base} {url}: {err}");
        }
    }

    #[test]
    fn only_plain_paths_are_accepted() {
        assert_eq!(plain("vendor/lib").unwrap(), "vendor/lib");
        assert_eq!(plain("vendor/lib/").unwrap(), "vendor/lib");
        for bad in [
            "../x",
            "a/../../x",
            "/etc",
            "a//b",
            "./a",
            ".git/hooks",
            "a/.GIT",
            "",
            "-x",
        ] {
            assert!(plain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_path_through_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, outside) = (dir.path().join("tree"), dir.path().join("outside"));
        std::fs::create_dir_all(tree.join("real")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("link")).unwrap();
        std::fs::write(tree.join("file"), "x").unwrap();
        assert_eq!(place(&tree, "real/lib").unwrap(), tree.join("real/lib"));
        assert!(tree.join("real/lib").is_dir());
        for bad in ["link/lib", "link", "file/lib"] {
            let err = place(&tree, bad).unwrap_err();
            assert!(
                err.to_string().contains("symlink or a file"),
                "{bad}: {err}"
            );
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        assert_eq!(origin("https://h:8443/org/app"), "https://h:8443");
        assert_eq!(origin("ssh://h/org/app"), "ssh://h");
        assert_eq!(origin("file:///srv/app"), "file://");
        assert_ne!(origin("http://h/a"), origin("https://h/a"));
    }

    #[test]
    fn gitmodules_entries_and_gitlinks_parse() {
        let listing = "submodule.a.b.path\nvendor/ab\0submodule.a.b.url\n../ab.git\0\
                       submodule.off.path\noff\0submodule.off.url\nx\0submodule.off.update\nnone\0\
                       core.bare\0";
        let entries = entries(listing);
        assert_eq!(entries["a.b"].path.as_deref(), Some("vendor/ab"));
        assert_eq!(entries["a.b"].url.as_deref(), Some("../ab.git"));
        assert!(entries["off"].skip);
        let links = gitlinks("160000 commit abc\tvendor/ab\x00100644 blob def\tREADME\x00");
        assert_eq!(links.len(), 1);
        assert_eq!(links["vendor/ab"], "abc");
    }
}
