//! Submodules filled into snapshots from their own mirrors, served by real git servers; and the
//! refusals that keep `.gitmodules` from reaching transports, paths or hosts it must not.

use std::path::{Path, PathBuf};
use std::process::Command;

use repo_git::{Cache, Creds, Error, Repo, Settings};
use tempfile::TempDir;

use crate::support::fixture::{env, run};
use crate::support::{self, http, Daemon, Http};

/// Bare repositories under `root`, each built from its own work tree.
struct Served {
    dir: TempDir,
    root: PathBuf,
}

/// One repository being built: commits go to `work`, `publish` pushes them to `<name>.git`.
struct Work<'a> {
    served: &'a Served,
    work: PathBuf,
    bare: PathBuf,
}

impl Served {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("served");
        std::fs::create_dir(&root).unwrap();
        Self { dir, root }
    }

    fn repo(&self, name: &str) -> Work<'_> {
        let work = self.dir.path().join("work").join(name);
        let bare = self.root.join(format!("{name}.git"));
        for (dir, bare) in [(&work, false), (&bare, true)] {
            let mut init = Command::new("git");
            init.envs(env(self.dir.path()))
                .args(["init", "-q", "-b", "main"]);
            if bare {
                init.arg("--bare");
            }
            run(init.arg(dir));
        }
        Work {
            served: self,
            work,
            bare,
        }
    }
}

impl Work<'_> {
    /// Commits `files`, gitlinks (path, commit) and, if given, `.gitmodules`; returns the SHA.
    fn commit(
        &self,
        files: &[(&str, &str)],
        links: &[(&str, &str)],
        modules: Option<&str>,
    ) -> String {
        let mut paths: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        for (path, contents) in files {
            let path = self.work.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        if let Some(modules) = modules {
            std::fs::write(self.work.join(".gitmodules"), modules).unwrap();
            paths.push(".gitmodules");
        }
        if !paths.is_empty() {
            self.git(&[&["add", "--"], paths.as_slice()].concat());
        }
        for (path, sha) in links {
            let info = format!("160000,{sha},{path}");
            self.git(&["update-index", "--add", "--cacheinfo", &info]);
        }
        self.git(&["commit", "-q", "--allow-empty", "-m", "change"]);
        let sha = self.git(&["rev-parse", "HEAD"]);
        self.git(&["push", "-q", "--mirror", self.bare.to_str().unwrap()]);
        sha
    }

    fn git(&self, args: &[&str]) -> String {
        run(Command::new("git")
            .current_dir(&self.work)
            .envs(env(self.served.dir.path()))
            .args(args))
    }
}

/// `.gitmodules` with one submodule.
fn module(path: &str, url: &str) -> String {
    format!("[submodule \"{path}\"]\n\tpath = {path}\n\turl = {url}\n")
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn with(dir: &Path, change: impl FnOnce(&mut Settings)) -> Cache {
    let mut settings = support::settings(dir);
    change(&mut settings);
    Cache::new(settings).unwrap()
}

/// Every directory under the cache's snapshots named `sha`: a failed build publishes none.
fn published(cache_dir: &Path, sha: &str) -> Vec<PathBuf> {
    let Ok(ids) = std::fs::read_dir(cache_dir.join("snapshots")) else {
        return Vec::new();
    };
    ids.flatten()
        .map(|id| id.path().join(sha))
        .filter(|p| p.exists())
        .collect()
}

/// top.git (app + vendor/mid) -> mid.git (mid.txt + deps/leaf, relative URLs) -> leaf.git
/// pinned to its first commit while its branch has moved on.
struct Nested {
    served: Served,
    top: String,
}

fn nested() -> Nested {
    let served = Served::new();
    let leaf = served.repo("leaf");
    let pinned = leaf.commit(&[("leaf.txt", "pinned\n")], &[], None);
    leaf.commit(&[("leaf.txt", "branch head\n")], &[], None);
    let mid = served.repo("mid");
    let mid_sha = mid.commit(
        &[("mid.txt", "mid\n")],
        &[("deps/leaf", &pinned)],
        Some(&module("deps/leaf", "../leaf.git")),
    );
    let top = served.repo("top");
    let top = top.commit(
        &[("app/config.yaml", "kind: ConfigMap\n")],
        &[("vendor/mid", &mid_sha)],
        Some(&module("vendor/mid", "./../mid.git")),
    );
    Nested { served, top }
}

#[tokio::test]
async fn nested_submodules_are_filled_at_their_recorded_commits() {
    let fixture = nested();
    let Some(daemon) = Daemon::start(&fixture.served.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let snapshot = cache
        .snapshot(&support::repo(&daemon.url("top.git")), &fixture.top)
        .await
        .unwrap();
    let root = snapshot.path();
    assert_eq!(read(root, "app/config.yaml"), "kind: ConfigMap\n");
    assert_eq!(read(root, "vendor/mid/mid.txt"), "mid\n");
    assert_eq!(
        read(root, "vendor/mid/deps/leaf/leaf.txt"),
        "pinned\n",
        "the commit the parent records, not the branch head"
    );
    for git_dir in ["vendor/mid/.git", "vendor/mid/deps/leaf/.git"] {
        assert!(!root.join(git_dir).exists(), "{git_dir}: files only");
    }
    // Each submodule has its own mirror, next to the top repository's.
    let mirrors = std::fs::read_dir(dir.path().join("repos")).unwrap().count();
    assert_eq!(mirrors, 3);
}

#[tokio::test]
async fn disabled_submodules_stay_empty_directories() {
    let fixture = nested();
    let Some(daemon) = Daemon::start(&fixture.served.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = with(dir.path(), |s| s.submodules = false);
    let repo = support::repo(&daemon.url("top.git"));
    let plain = cache.snapshot(&repo, &fixture.top).await.unwrap();
    let vendor = plain.path().join("vendor/mid");
    assert!(vendor.is_dir());
    assert_eq!(std::fs::read_dir(&vendor).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("repos")).unwrap().count(),
        1
    );
    // A request that asks for submodules itself gets them, in a snapshot of its own.
    let full = cache
        .snapshot_with(&repo, &fixture.top, true)
        .await
        .unwrap();
    assert_eq!(
        read(full.path(), "vendor/mid/deps/leaf/leaf.txt"),
        "pinned\n"
    );
    assert_eq!(std::fs::read_dir(&vendor).unwrap().count(), 0);
}

/// A top repository whose one submodule `vendor/lib` has the given `.gitmodules` URL.
fn pointing(served: &Served, path: &str, url: &str) -> String {
    let lib = served.repo("lib");
    let sha = lib.commit(&[("lib.txt", "lib\n")], &[], None);
    served.repo("top").commit(
        &[("a.txt", "a\n")],
        &[("vendor/lib", &sha)],
        Some(&module(path, url)),
    )
}

#[tokio::test]
async fn file_and_ext_urls_are_refused_and_nothing_is_published() {
    let served = Served::new();
    let Some(daemon) = Daemon::start(&served.root) else {
        return;
    };
    let marker = served.dir.path().join("pwned");
    let lib = served.root.join("lib.git");
    let cases = [
        (
            format!("file://{}", lib.display()),
            "file repositories are not allowed",
        ),
        (
            lib.display().to_string(),
            "file repositories are not allowed",
        ),
        (
            format!("ext::sh -c touch% {}", marker.display()),
            "whitespace",
        ),
        (
            format!("ext::sh%20-c%20touch%25%20{}", marker.display()),
            "transport ext:: is not allowed",
        ),
        ("-uhttps://h/x".to_string(), "must not start with '-'"),
    ];
    for (url, why) in cases {
        let top = pointing(&served, "vendor/lib", &url);
        let dir = tempfile::tempdir().unwrap();
        let cache = support::cache(dir.path());
        let err = cache
            .snapshot(&support::repo(&daemon.url("top.git")), &top)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{url}: {err}");
        let shown = err.to_string();
        assert!(shown.contains("(submodule vendor/lib)"), "{shown}");
        assert!(shown.contains(why), "{url}: {shown}");
        assert!(published(dir.path(), &top).is_empty(), "{url}");
        assert!(!marker.exists(), "{url} ran a command");
    }
}

#[tokio::test]
async fn file_submodules_are_read_when_file_repositories_are_allowed() {
    let served = Served::new();
    let lib = served.root.join("lib.git");
    let top = pointing(&served, "vendor/lib", &format!("file://{}", lib.display()));
    let dir = tempfile::tempdir().unwrap();
    let cache = with(dir.path(), |s| s.allow_file = true);
    let url = format!("file://{}", served.root.join("top.git").display());
    let snapshot = cache.snapshot(&support::repo(&url), &top).await.unwrap();
    assert_eq!(read(snapshot.path(), "vendor/lib/lib.txt"), "lib\n");
}

#[tokio::test]
async fn paths_outside_the_snapshot_are_refused() {
    let served = Served::new();
    let Some(daemon) = Daemon::start(&served.root) else {
        return;
    };
    for path in ["../escape", "vendor/../../escape", ".git/hooks", "/etc/x"] {
        let top = pointing(&served, path, "../lib.git");
        let dir = tempfile::tempdir().unwrap();
        let cache = support::cache(dir.path());
        let err = cache
            .snapshot(&support::repo(&daemon.url("top.git")), &top)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{path}: {err}"
        );
        assert!(
            err.to_string().contains("must be relative and plain"),
            "{err}"
        );
        assert!(published(dir.path(), &top).is_empty(), "{path}");
        assert!(!served.dir.path().join("escape").exists());
    }
}

#[tokio::test]
async fn a_submodule_that_cannot_be_fetched_fails_the_snapshot_by_name() {
    let served = Served::new();
    let Some(daemon) = Daemon::start(&served.root) else {
        return;
    };
    let top = pointing(&served, "vendor/lib", "../gone.git");
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let err = cache
        .snapshot(&support::repo(&daemon.url("top.git")), &top)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, Error::NotFound { .. }), "{shown}");
    let gone = format!("{} (submodule vendor/lib)", daemon.url("gone.git"));
    assert!(shown.starts_with(&gone), "{shown}");
    assert!(published(dir.path(), &top).is_empty());
}

#[tokio::test]
async fn depth_and_count_are_bounded() {
    let served = Served::new();
    let Some(daemon) = Daemon::start(&served.root) else {
        return;
    };
    // Each commit of chain.git holds the previous one as submodule `next`.
    let chain = served.repo("chain");
    let url = daemon.url("chain.git");
    let mut commits = vec![chain.commit(&[("end.txt", "end\n")], &[], None)];
    for _ in 0..6 {
        let previous = commits.last().unwrap().clone();
        commits.push(chain.commit(&[], &[("next", &previous)], Some(&module("next", &url))));
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = support::repo(&url);
    let five = cache.snapshot(&repo, &commits[5]).await.unwrap();
    assert_eq!(
        read(five.path(), "next/next/next/next/next/end.txt"),
        "end\n"
    );
    let err = cache.snapshot(&repo, &commits[6]).await.unwrap_err();
    assert!(
        err.to_string().contains("nested more than 5 levels deep"),
        "{err}"
    );
    assert!(published(dir.path(), &commits[6]).is_empty());

    let many: String = (0..101).map(|i| module(&format!("m{i}"), &url)).collect();
    let crowded = chain.commit(&[], &[], Some(&many));
    let err = cache.snapshot(&repo, &crowded).await.unwrap_err();
    assert!(
        err.to_string().contains("names more than 100 submodules"),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_go_to_the_same_host_only() {
    let served = Served::new();
    let (Some(home), Some(other)) = (
        Http::start(&served.root).await,
        Http::start(&served.root).await,
    ) else {
        return;
    };
    let creds = Creds {
        username: http::USER.into(),
        password: http::PASSWORD.into(),
        ..Creds::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let top_repo = Repo::new(&home.url("top.git"), creds).unwrap();

    // A private submodule next to its parent is read with the parent's credentials.
    let top = pointing(&served, "vendor/lib", "../lib.git");
    let snapshot = cache.snapshot(&top_repo, &top).await.unwrap();
    assert_eq!(read(snapshot.path(), "vendor/lib/lib.txt"), "lib\n");

    // The same repository on another server (port) never sees them: it refuses the fetch.
    let top = pointing(&served, "vendor/lib", &other.url("lib.git"));
    let err = cache.snapshot(&top_repo, &top).await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
    assert!(err.to_string().contains("(submodule vendor/lib)"), "{err}");
    assert!(!err.to_string().contains(http::PASSWORD), "{err}");
}

#[tokio::test]
async fn a_cache_hit_checks_the_submodules_with_the_requests_own_credentials() {
    let served = Served::new();
    let Some(server) = Http::start(&served.root).await else {
        return;
    };
    let with_creds = |creds: Creds| Repo::new(&server.url("top.git"), creds).unwrap();
    let alice = with_creds(Creds {
        username: http::USER.into(),
        password: http::PASSWORD.into(),
        ..Creds::default()
    });
    let bearer = with_creds(Creds {
        bearer_token: http::TOKEN.into(),
        ..Creds::default()
    });
    let top = pointing(&served, "vendor/lib", "../lib.git");
    let dir = tempfile::tempdir().unwrap();
    let built = {
        let cache = support::cache(dir.path());
        let built = cache.snapshot(&alice, &top).await.unwrap();
        let shared = cache.snapshot(&bearer, &top).await.unwrap();
        assert_eq!(shared.path(), built.path());
        built.path().to_path_buf()
    };
    // After a restart the submodules of a snapshot on disk are found again.
    let cache = support::cache(dir.path());
    let again = cache.snapshot(&alice, &top).await.unwrap();
    assert_eq!(again.path(), built);
    assert_eq!(read(&built, "vendor/lib/lib.txt"), "lib\n");

    // The submodule becomes unreadable; the top repository stays readable. Credentials that
    // have not read the submodule lately get the refusal, not the cached snapshot.
    std::fs::rename(
        served.root.join("lib.git"),
        served.dir.path().join("hidden.git"),
    )
    .unwrap();
    let err = cache.snapshot(&bearer, &top).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("(submodule vendor/lib)"), "{err}");
    cache.test(&bearer).await.unwrap();
    // So does a caller serving what it derived from the commit (rendered manifests).
    cache.authorize(&bearer).await.unwrap();
    let err = cache.authorize_commit(&bearer, &top).await.unwrap_err();
    assert!(err.to_string().contains("(submodule vendor/lib)"), "{err}");
    cache.authorize_commit(&alice, &top).await.unwrap();
    drop(cache);
    let cache = support::cache(dir.path());
    let err = cache.authorize_commit(&bearer, &top).await.unwrap_err();
    assert!(err.to_string().contains("(submodule vendor/lib)"), "{err}");
}
