//! One bare repository per normalized URL. Fetches into it are serialized; everything else
//! (presence checks, snapshot builds, metadata, diffs) only reads it and runs concurrently.

use std::path::{Path, PathBuf};

use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::auth::Auth;
use crate::run::{Call, Git};
use crate::{classify, sweep, Error};
use repo_source::Remote;

pub(crate) struct Mirror {
    pub(crate) path: PathBuf,
    ready: OnceCell<()>,
    fetching: Mutex<()>,
}

/// What a fetch asks for.
pub(crate) enum Want<'a> {
    /// Every branch and tag, pruning those gone upstream (upstream's `fetch --tags --force --prune`).
    All,
    /// One commit not reachable from branches or tags; kept under `refs/keep/`.
    Commit(&'a str),
}

impl Mirror {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            ready: OnceCell::new(),
            fetching: Mutex::new(()),
        }
    }

    /// Creates the repository on first use: `git init` in scratch, then a rename.
    pub(crate) async fn init(&self, git: &Git, url: &str, scratch: &Path) -> Result<(), Error> {
        let create = || async {
            if tokio::fs::try_exists(self.path.join("HEAD"))
                .await
                .unwrap_or(false)
            {
                return Ok(());
            }
            let io = |e: std::io::Error| Error::internal(url, format!("create mirror: {e}"));
            let work = tempfile::Builder::new()
                .prefix("mirror-")
                .tempdir_in(scratch)
                .map_err(io)?;
            let repo = work.path().join("repo.git");
            git.run(
                Call::new()
                    // No template: no sample hooks, nothing but the repository.
                    .args(["init", "--bare", "--quiet", "--template=", "--"])
                    .arg(&repo),
            )
            .await
            .map_err(|f| classify::local(url, "init", f))?;
            tokio::fs::rename(&repo, &self.path).await.map_err(io)
        };
        self.ready.get_or_try_init(create).await.map(|_| ())
    }

    /// Whether the commit is present.
    pub(crate) async fn has(&self, git: &Git, sha: &str) -> bool {
        let object = format!("{sha}^{{commit}}");
        git.run(Call::new().git_dir(&self.path).args([
            "cat-file",
            "-e",
            "--end-of-options",
            &object,
        ]))
        .await
        .is_ok()
    }

    /// The full SHA of an abbreviated one, if it names exactly one commit here.
    pub(crate) async fn expand(&self, git: &Git, abbreviated: &str) -> Option<String> {
        let object = format!("{abbreviated}^{{commit}}");
        let out = git
            .run(Call::new().git_dir(&self.path).args([
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &object,
            ]))
            .await
            .ok()?;
        let sha = String::from_utf8_lossy(&out).trim().to_string();
        (!sha.is_empty()).then_some(sha)
    }

    /// Serializes fetches; holding the guard is what licenses [`Mirror::fetch`].
    pub(crate) async fn lock(&self) -> MutexGuard<'_, ()> {
        self.fetching.lock().await
    }

    /// A failed or killed fetch is followed by a sweep, so it leaves nothing behind.
    pub(crate) async fn fetch(
        &self,
        _held: &MutexGuard<'_, ()>,
        git: &Git,
        remote: &Remote,
        auth: &Auth,
        want: Want<'_>,
    ) -> Result<(), Error> {
        let mut call = Call::new().git_dir(&self.path).args([
            "fetch",
            "--quiet",
            "--force",
            "--no-write-fetch-head",
        ]);
        let refspecs = match want {
            Want::All => {
                call = call.arg("--prune");
                vec![
                    "+refs/heads/*:refs/heads/*".to_string(),
                    "+refs/tags/*:refs/tags/*".to_string(),
                ]
            }
            Want::Commit(sha) => vec![format!("+{sha}:refs/keep/{sha}")],
        };
        tracing::debug!(url = %remote.url, "fetching");
        let result = git
            .remote(
                "fetch",
                &remote.url,
                call.arg("--end-of-options")
                    .arg(&remote.url)
                    .args(refspecs)
                    .auth(auth),
            )
            .await;
        let Err(failure) = result else {
            return Ok(());
        };
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || sweep::mirror(&path)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!(url = %remote.url, removed = n, "cleaned up after a failed fetch")
            }
            Ok(Err(e)) => {
                tracing::warn!(url = %remote.url, error = %e, "cannot clean up after a failed fetch")
            }
            Err(e) => tracing::warn!(url = %remote.url, error = %e, "cleanup task failed"),
        }
        Err(auth.explain(classify::remote(&remote.url, "fetch", failure)))
    }
}
