//! A repository with a known history, published as a bare repository that the servers export.
//!
//! ```text
//! c1  main        a.txt, dir/b.yaml     tags v1.0.0 (annotated), light
//! c2  main        a.txt                 tag  v1.2.0
//! c3  main        a.txt                 tags v1.2.5 (annotated), app/1.4.0
//! c4  feature     feature.txt (on c3)
//! c5  main = HEAD dir/b.yaml -> dir/c.yaml, a.txt   tags v1.3.0-rc1, v2.0.0
//! c6  refs/pull/1/head only, pr.txt (on c5)
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub(crate) struct Fixture {
    pub dir: TempDir,
    /// Directory the servers export; holds `repo.git`.
    pub root: PathBuf,
    work: PathBuf,
    /// c1..c6, index 0 = c1.
    pub commits: Vec<String>,
}

/// Name of the published repository under `root`.
pub(crate) const NAME: &str = "repo.git";

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("served");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&root).unwrap();
        let mut f = Self {
            dir,
            root,
            work,
            commits: Vec::new(),
        };
        f.git(&["init", "-q", "-b", "main", f.work.to_str().unwrap()]);
        f.commit(&[("a.txt", "one\n"), ("dir/b.yaml", "b: 1\n")], "first");
        f.in_work(&["tag", "-a", "v1.0.0", "-m", "release 1.0.0"]);
        f.in_work(&["tag", "light"]);
        f.commit(&[("a.txt", "two\n")], "second");
        f.in_work(&["tag", "v1.2.0"]);
        f.commit(&[("a.txt", "three\n")], "third");
        f.in_work(&["tag", "-a", "v1.2.5", "-m", "release 1.2.5"]);
        f.in_work(&["tag", "app/1.4.0"]);
        f.in_work(&["checkout", "-q", "-b", "feature"]);
        f.commit(&[("feature.txt", "f\n")], "feature work");
        f.in_work(&["checkout", "-q", "main"]);
        f.in_work(&["mv", "dir/b.yaml", "dir/c.yaml"]);
        f.commit(&[("a.txt", "five\n")], "fifth\n\nwith a body");
        f.in_work(&["tag", "v1.3.0-rc1"]);
        f.in_work(&["tag", "-a", "v2.0.0", "-m", "release 2.0.0"]);
        f.in_work(&["checkout", "-q", "--detach"]);
        f.commit(&[("pr.txt", "pr\n")], "pull request");
        let pr = f.commits[5].clone();
        f.in_work(&["update-ref", "refs/pull/1/head", &pr]);
        f.in_work(&["checkout", "-q", "main"]);
        f.git(&[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            f.bare().to_str().unwrap(),
        ]);
        f.publish();
        f
    }

    pub(crate) fn bare(&self) -> PathBuf {
        self.root.join(NAME)
    }

    /// Pushes every ref of the work repository to the bare one.
    pub(crate) fn publish(&self) {
        let bare = self.bare();
        self.in_work(&["push", "-q", "--mirror", bare.to_str().unwrap()]);
    }

    /// Commits files (path, contents) on the current branch; returns the SHA.
    pub(crate) fn commit(&mut self, files: &[(&str, &str)], message: &str) -> String {
        for (path, contents) in files {
            let path = self.work.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        self.in_work(&["add", "-A"]);
        // Distinct, fixed dates keep SHAs stable and metadata checkable.
        let date = format!("{} +0000", 1_700_000_000 + 60 * self.commits.len());
        run(Command::new("git")
            .current_dir(&self.work)
            .envs(env(self.dir.path()))
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(["commit", "-q", "-m", message]));
        let sha = self.in_work(&["rev-parse", "HEAD"]);
        self.commits.push(sha.clone());
        sha
    }

    pub(crate) fn in_work(&self, args: &[&str]) -> String {
        run(Command::new("git")
            .current_dir(&self.work)
            .envs(env(self.dir.path()))
            .args(args))
    }

    fn git(&self, args: &[&str]) -> String {
        run(Command::new("git").envs(env(self.dir.path())).args(args))
    }
}

/// A private git environment for building fixtures.
pub(crate) fn env(home: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("HOME", home.display().to_string()),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
        ("GIT_AUTHOR_NAME", "A U Thor".into()),
        ("GIT_AUTHOR_EMAIL", "author@example.com".into()),
        ("GIT_COMMITTER_NAME", "C O Mitter".into()),
        ("GIT_COMMITTER_EMAIL", "committer@example.com".into()),
        ("GIT_COMMITTER_DATE", "1700000000 +0000".into()),
    ]
}

pub(crate) fn run(command: &mut Command) -> String {
    let out = command.output().expect("spawn");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
