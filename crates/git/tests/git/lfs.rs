//! Git LFS (`Repo::lfs`, upstream's `enableLfs`) against real git and git-lfs: a repository
//! served by `git http-backend` with a minimal LFS batch server on the same origin, both
//! behind Basic auth.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use repo_git::{Cache, Creds, Error, Repo, Settings};
use tempfile::TempDir;

use crate::support::fixture::{env, run};
use crate::support::http::{PASSWORD, USER};
use crate::support::{self, Http, Lfs};

const ATTRIBUTES: &str = "*.bin filter=lfs diff=lfs merge=lfs -text\n";

struct Served {
    dir: TempDir,
    root: PathBuf,
    lfs: Arc<Lfs>,
    http: Http,
}

impl Served {
    /// `None` (a skip) without git-lfs or git http-backend. The LFS server accepts `password`.
    async fn start(password: &str) -> Option<Self> {
        let lfs = Command::new("git").args(["lfs", "version"]).output();
        let installed = lfs.is_ok_and(|out| out.status.success());
        if !support::available(
            installed,
            "git-lfs is not installed (scripts/install-tools)",
        ) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("served");
        std::fs::create_dir(&root).unwrap();
        let lfs = Arc::new(Lfs::new(USER, password));
        let http = Http::with_lfs(&root, lfs.clone()).await?;
        Some(Self {
            dir,
            root,
            lfs,
            http,
        })
    }

    /// Publishes `name.git` with one commit of `files`; returns the commit.
    fn publish(&self, name: &str, files: &[(&str, &str)]) -> String {
        let work = self.dir.path().join("work").join(name);
        let git = |dir: &Path, args: &[&str]| {
            run(Command::new("git")
                .current_dir(dir)
                .envs(env(self.dir.path()))
                .args(args))
        };
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        for (path, contents) in files {
            let path = work.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "lfs"]);
        let bare = self.root.join(format!("{name}.git"));
        git(
            &work,
            &["clone", "-q", "--bare", ".", bare.to_str().unwrap()],
        );
        git(&work, &["rev-parse", "HEAD"])
    }

    fn repo(&self, name: &str) -> Repo {
        let creds = Creds {
            username: USER.into(),
            password: PASSWORD.into(),
            ..Creds::default()
        };
        Repo::new(&self.http.url(&format!("{name}.git")), creds).unwrap()
    }

    fn batches(&self) -> usize {
        let log = self.lfs.log();
        log.iter().filter(|p| p.ends_with("/objects/batch")).count()
    }
}

/// Content larger than a pointer, different for each `seed`.
fn large(seed: u8) -> Vec<u8> {
    (0..5000u32).map(|i| (i % 251) as u8 ^ seed).collect()
}

fn read(root: &Path, path: &str) -> Vec<u8> {
    std::fs::read(root.join(path)).unwrap()
}

#[tokio::test]
async fn pointers_become_their_objects_only_with_lfs() {
    let Some(served) = Served::start(PASSWORD).await else {
        return;
    };
    let (model, chart) = (large(1), large(2));
    let model_pointer = served.lfs.put(&model);
    let chart_pointer = served.lfs.put(&chart);
    let sha = served.publish(
        "assets",
        &[
            (".gitattributes", ATTRIBUTES),
            ("data/model.bin", &model_pointer),
            ("copy.bin", &model_pointer),
            ("charts/chart.bin", &chart_pointer),
            ("app.yaml", "kind: ConfigMap\n"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = served.repo("assets");

    let plain = cache.snapshot(&repo, &sha).await.unwrap();
    assert_eq!(
        read(plain.path(), "data/model.bin"),
        model_pointer.as_bytes()
    );
    assert_eq!(served.batches(), 0, "an LFS request without enableLfs");

    let lfs = cache
        .snapshot(&repo.clone().with_lfs(true), &sha)
        .await
        .unwrap();
    assert_ne!(
        lfs.path(),
        plain.path(),
        "LFS and plain snapshots share a directory"
    );
    assert_eq!(read(lfs.path(), "data/model.bin"), model);
    assert_eq!(read(lfs.path(), "copy.bin"), model);
    assert_eq!(read(lfs.path(), "charts/chart.bin"), chart);
    assert_eq!(read(lfs.path(), "app.yaml"), b"kind: ConfigMap\n");
    assert!(served.batches() >= 1);

    // Each kind keeps being served from its own snapshot.
    let again = cache.snapshot(&repo, &sha).await.unwrap();
    assert_eq!(
        read(again.path(), "data/model.bin"),
        model_pointer.as_bytes()
    );
    let again = cache
        .snapshot(&repo.clone().with_lfs(true), &sha)
        .await
        .unwrap();
    assert_eq!(read(again.path(), "data/model.bin"), model);
}

#[tokio::test]
async fn credentials_the_lfs_server_refuses_fail_naming_the_repository() {
    let Some(served) = Served::start("the-lfs-password").await else {
        return;
    };
    let pointer = served.lfs.put(&large(3));
    let sha = served.publish(
        "refused",
        &[(".gitattributes", ATTRIBUTES), ("a.bin", &pointer)],
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = served.repo("refused").with_lfs(true);

    let err = cache.snapshot(&repo, &sha).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    assert!(message.contains(repo.url()), "{message}");
    assert!(
        message.contains("refused the repository's credentials"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");
    // The git server took the credentials; only LFS refused them, and nothing was published.
    assert!(served.batches() >= 1);
    let plain = cache.snapshot(&served.repo("refused"), &sha).await.unwrap();
    assert_eq!(read(plain.path(), "a.bin"), pointer.as_bytes());
    assert!(cache.snapshot(&repo, &sha).await.is_err());
}

#[tokio::test]
async fn downloads_on_another_origin_never_get_the_credentials() {
    let Some(served) = Served::start(PASSWORD).await else {
        return;
    };
    let pointer = served.lfs.put(&large(8));
    let sha = served.publish(
        "offsite",
        &[(".gitattributes", ATTRIBUTES), ("a.bin", &pointer)],
    );
    // Same server, other origin: it challenges for credentials the client must not give.
    served
        .lfs
        .send_downloads_to(&format!("localhost:{}", served.http.port));
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = served.repo("offsite").with_lfs(true);

    let err = cache.snapshot(&repo, &sha).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains(repo.url()), "{message}");
    let other = format!("sent downloads to http://localhost:{}", served.http.port);
    assert!(message.contains(&other), "{message}");
    let log = served.lfs.log();
    assert!(
        log.iter().any(|p| p.starts_with("/lfs/objects/")),
        "{log:?}"
    );
    let credentialed = served.lfs.credentialed();
    assert!(
        credentialed.iter().all(|p| p.ends_with("/objects/batch")),
        "credentials sent to another origin: {credentialed:?}"
    );
}

#[tokio::test]
async fn an_object_that_does_not_match_its_oid_is_refused() {
    let Some(served) = Served::start(PASSWORD).await else {
        return;
    };
    let pointer = served.lfs.lying(&large(4), &large(5));
    let sha = served.publish(
        "lying",
        &[(".gitattributes", ATTRIBUTES), ("a.bin", &pointer)],
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = served.repo("lying").with_lfs(true);

    let err = cache.snapshot(&repo, &sha).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains(repo.url()), "{message}");
    assert!(message.contains("LFS"), "{message}");
    assert!(served
        .lfs
        .log()
        .iter()
        .any(|p| p.starts_with("/lfs/objects/")));
    // Refused again: no snapshot holding the wrong content was published.
    assert!(cache.snapshot(&repo, &sha).await.is_err());
}

#[tokio::test]
async fn an_lfsconfig_naming_another_endpoint_is_refused_before_any_request() {
    let Some(served) = Served::start(PASSWORD).await else {
        return;
    };
    let pointer = served.lfs.put(&large(6));
    let elsewhere = format!(
        "[lfs]\n\turl = http://127.0.0.1:{}/elsewhere.git/info/lfs\n",
        served.http.port
    );
    let files = [(".gitattributes", ATTRIBUTES), ("a.bin", pointer.as_str())];
    let sha = served.publish(
        "redirected",
        &[&files[..], &[(".lfsconfig", &elsewhere)]].concat(),
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());

    let repo = served.repo("redirected").with_lfs(true);
    let err = cache.snapshot(&repo, &sha).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(".lfsconfig sets lfs.url"), "{message}");
    assert!(message.contains(repo.url()), "{message}");
    assert!(served.lfs.log().is_empty(), "{:?}", served.lfs.log());

    // Naming the repository's own endpoint is no redirection.
    let own = format!("[lfs]\n\turl = {}/info/lfs\n", served.http.url("own.git"));
    let sha = served.publish("own", &[&files[..], &[(".lfsconfig", &own)]].concat());
    let snapshot = cache
        .snapshot(&served.repo("own").with_lfs(true), &sha)
        .await
        .unwrap();
    assert_eq!(read(snapshot.path(), "a.bin"), large(6));
}

#[tokio::test]
async fn objects_over_the_disk_budget_are_refused_before_any_request() {
    let Some(served) = Served::start(PASSWORD).await else {
        return;
    };
    let pointer = served.lfs.put(&large(7));
    let sha = served.publish(
        "huge",
        &[(".gitattributes", ATTRIBUTES), ("a.bin", &pointer)],
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(Settings {
        budget_bytes: 4000,
        ..support::settings(dir.path())
    })
    .unwrap();

    let err = cache
        .snapshot(&served.repo("huge").with_lfs(true), &sha)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(
        err.to_string().contains("disk budget of 4000 bytes"),
        "{err}"
    );
    assert_eq!(served.batches(), 0);
}
