//! The engine's entry point: repositories in, refs, resolved revisions, snapshots, commit
//! metadata and changed paths out.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::auth::{Auth, Net};
use crate::env::Env;
use crate::flight::Flights;
use crate::github_app::Apps;
use crate::grants::{Fingerprint, Grants};
use crate::layout::Layout;
use crate::listing::Listing;
use crate::mirror::{Mirror, Want};
use crate::resolve::{self, Outcome};
use crate::run::{Call, Git};
use crate::shared::{self, Sharing};
use crate::store::Store;
use crate::submodule::{self, Found, Known, Modules};
use crate::trust::Trust;
use crate::{
    classify, commit, lfs, open, revision, snapshot, Commit, Creds, Error, Refs, Repo, Resolved,
    Settings, Snapshot,
};
use repo_source::{Remote, Revision, Transport};

/// How a request's credentials stand with a repository.
#[derive(Clone, Debug)]
enum Proof {
    /// Proven within the TTL.
    Held,
    /// Proven just now by this listing.
    Listed(Arc<Refs>),
    /// The server did not answer: cached content stays available, nothing new is learnt.
    Unanswered(Error),
}

/// Whether a ref listing may come from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Reused for the ref cache TTL (upstream's revision cache).
    Cached,
    /// Listed anew: upstream's `noRevisionCache` / `noCache` (user refresh, webhook, sync).
    Fresh,
}

/// The git cache. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    layout: Layout,
    git: Git,
    /// CA bundles, known hosts and proxies of network commands.
    net: Arc<Net>,
    /// GitHub App installation tokens.
    apps: Apps,
    listing: Listing,
    /// Ref listings shared with other replicas, for requests without credentials.
    sharing: Option<Sharing>,
    /// Credentials proven to read a repository, checked before cached content is served.
    grants: Grants,
    /// Ref listings allowed at once, if limited.
    listings: Option<tokio::sync::Semaphore>,
    /// One proving listing per repository and credentials at a time.
    proving: Flights<(String, Fingerprint), Proof>,
    mirrors: Mutex<HashMap<String, Arc<Mirror>>>,
    store: Store,
    building: Flights<(String, String), Arc<Snapshot>>,
    /// The submodules of snapshots built with them.
    modules: Known,
    _lock: File,
}

impl Cache {
    /// Opens (or creates) the cache in `settings.dir`: takes the directory lock, checks git,
    /// wipes scratch, sweeps the mirrors' leftovers and indexes existing snapshots. Blocking;
    /// call it at startup.
    pub fn new(settings: Settings) -> Result<Self, Error> {
        let opened = open::open(&settings)?;
        let inner = Inner {
            git: Git::new(
                Env::new(&opened.layout, settings.allow_file),
                &opened.layout.home,
                settings.timeout,
            )
            .observed(settings.observer.clone()),
            listing: Listing::new(settings.ref_cache_ttl),
            sharing: settings
                .shared_refs
                .clone()
                .map(|refs| Sharing::new(refs, settings.ref_cache_ttl, settings.ref_lock_timeout)),
            grants: Grants::new(settings.ref_cache_ttl),
            listings: (settings.list_parallelism > 0)
                .then(|| tokio::sync::Semaphore::new(settings.list_parallelism)),
            proving: Flights::new(),
            net: Arc::new(Net {
                trust: Trust::new(settings.tls_data_path.clone(), &opened.layout.scratch),
                known_hosts: settings.known_hosts.clone(),
                proxies: settings.proxies.clone(),
            }),
            apps: Apps::new(
                settings.github_app_creds_expiration,
                settings.timeout,
                settings.proxies.clone(),
                settings.tls_data_path.clone(),
            ),
            settings,
            layout: opened.layout,
            mirrors: Mutex::new(HashMap::new()),
            store: opened.store,
            building: Flights::new(),
            modules: Known::new(),
            _lock: opened.lock,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Starts fetching a repository this process has not touched yet, so that on a cold start
    /// the fetch overlaps the ref listing that resolving the revision needs (two round trips to
    /// the git server in parallel instead of in a row). A no-op for a known repository. Callers
    /// that go on to check out a commit call it first; [`Cache::snapshot`] then waits on the
    /// mirror's fetch lock instead of fetching again.
    pub fn prefetch(&self, repo: &Repo) {
        let Ok(remote) = self.remote(repo) else {
            return;
        };
        let id = self.inner.layout.id(&remote.key);
        let path = self.inner.layout.mirror(&id);
        {
            let mut mirrors = self.inner.mirrors.lock();
            if mirrors.contains_key(&id) {
                return;
            }
            // Known from now on, so later calls cost a map lookup, not a file check.
            mirrors.insert(id, Arc::new(Mirror::new(path.clone())));
            if path.join("HEAD").exists() {
                // Fetched by an earlier process: resolving needs no fetch to overlap.
                return;
            }
        }
        let (cache, remote, creds) = (self.clone(), remote.clone(), repo.creds.clone());
        tokio::spawn(async move {
            let fetched = async {
                let mirror = cache.mirror(&remote).await?;
                let held = mirror.lock().await;
                let auth = cache.auth(&remote, &creds).await?;
                mirror
                    .fetch(&held, &cache.inner.git, &remote, &auth, Want::All)
                    .await?;
                let who = cache.who(&remote, &creds);
                cache.inner.grants.grant(&remote.key, who);
                Ok::<_, Error>(())
            };
            // The caller's own path reports errors; a failed prefetch only costs a retry.
            if let Err(e) = fetched.await {
                tracing::debug!(url = %remote.url, error = %e, "prefetch failed");
            }
        });
    }

    /// The remote's refs, reused for `ref_cache_ttl` per normalized URL; concurrent callers
    /// share one `git ls-remote`.
    pub async fn refs(&self, repo: &Repo) -> Result<Arc<Refs>, Error> {
        self.listed(repo, Refresh::Cached).await
    }

    async fn listed(&self, repo: &Repo, refresh: Refresh) -> Result<Arc<Refs>, Error> {
        let remote = self.remote(repo)?;
        match refresh {
            Refresh::Cached => {
                match self.authorized(repo).await? {
                    Proof::Listed(refs) => return Ok(refs),
                    // Only a listing already cached can answer while the server cannot.
                    Proof::Unanswered(e) => return self.inner.listing.cached(&remote.key).ok_or(e),
                    Proof::Held => {}
                }
                let list = self.list_cached(repo);
                self.inner.listing.get(&remote.key, list).await
            }
            Refresh::Fresh => {
                let list = self.list_fresh(repo);
                let refs = self.inner.listing.refresh(&remote.key, list).await?;
                let who = self.who(remote, &repo.creds);
                self.inner.grants.grant(&remote.key, who);
                Ok(refs)
            }
        }
    }

    /// Fails unless the request's credentials may read the repository: for callers that serve
    /// something derived from its content from a cache of their own, such as rendered
    /// manifests.
    pub async fn authorize(&self, repo: &Repo) -> Result<(), Error> {
        self.authorized(repo).await.map(drop)
    }

    /// Makes sure the request's own credentials may read the repository before anything
    /// cached from it is served: a ref listing with them, unless one succeeded within the ref
    /// cache's TTL. The listing, when one was made, also refreshes the shared one and is
    /// returned.
    async fn authorized(&self, repo: &Repo) -> Result<Proof, Error> {
        let remote = self.remote(repo)?;
        let grants = &self.inner.grants;
        let who = self.who(remote, &repo.creds);
        if grants.holds(&remote.key, &who) {
            return Ok(Proof::Held);
        }
        let prove = async {
            if grants.holds(&remote.key, &who) {
                return Ok(Proof::Held);
            }
            // Without credentials, another replica's listing proves as much as one made here.
            let list = self.list_cached(repo);
            match self.inner.listing.refresh(&remote.key, list).await {
                Ok(refs) => {
                    grants.grant(&remote.key, who);
                    Ok(Proof::Listed(refs))
                }
                // The server cannot answer, so it cannot refuse either: what is cached stays
                // available, as upstream serves it (documented in docs/security.md).
                Err(e @ (Error::Unavailable { .. } | Error::Timeout { .. })) => {
                    tracing::warn!(url = %remote.url, error = %e, "serving cached content without proving the credentials: the git server did not answer");
                    Ok(Proof::Unanswered(e))
                }
                Err(e) => Err(e),
            }
        };
        self.inner
            .proving
            .run((remote.key.clone(), who), prove)
            .await
    }

    /// Resolves a revision as upstream's `ResolveRevision`: `""`/`HEAD`, a branch, a tag (peeled),
    /// `refs/…`, a semver constraint on tags (after removing `tag_prefix` from tag names), a full
    /// SHA (passed through, checked when snapshotting) or an abbreviated one (looked up in the
    /// mirror, fetching once if needed).
    pub async fn resolve(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
    ) -> Result<Resolved, Error> {
        self.resolve_with(repo, revision, tag_prefix, Refresh::Cached)
            .await
    }

    /// [`Cache::resolve`], listing the refs anew when `refresh` says so.
    pub async fn resolve_with(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
        refresh: Refresh,
    ) -> Result<Resolved, Error> {
        let remote = self.remote(repo)?;
        if revision.is_sha() {
            return Ok(Resolved {
                sha: revision.as_str().to_ascii_lowercase(),
                reference: None,
            });
        }
        let refs = self.listed(repo, refresh).await?;
        match resolve::resolve(&refs, revision.as_str(), tag_prefix) {
            Outcome::Found(resolved) => Ok(resolved),
            Outcome::Abbreviated => self.expand(remote, &repo.creds, revision.as_str()).await,
            Outcome::Missing => Err(Error::not_found(
                &remote.url,
                format!("revision {:?}", revision.as_str()),
            )),
        }
    }

    /// [`Cache::resolve_with`] down to a commit: a full SHA is checked in the mirror (fetching if
    /// needed), and an annotated tag's object SHA becomes the commit it tags, as upstream's
    /// checkout of it lands on that commit.
    pub async fn resolve_commit(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
        refresh: Refresh,
    ) -> Result<Resolved, Error> {
        let mut resolved = (self.resolve_with(repo, revision, tag_prefix, refresh)).await?;
        if revision.is_sha() {
            resolved.sha = self
                .peel(self.remote(repo)?, &repo.creds, resolved.sha)
                .await?;
        }
        Ok(resolved)
    }

    /// The checkout of commit `sha` (full SHA), fetched only if the mirror lacks it, with its
    /// submodules when [`Settings::submodules`] says so and its LFS objects when
    /// [`Repo::lfs`] does. Requests for one commit share a single
    /// build and the same snapshot; different commits build in parallel.
    pub async fn snapshot(&self, repo: &Repo, sha: &str) -> Result<Arc<Snapshot>, Error> {
        self.snapshot_with(repo, sha, self.inner.settings.submodules)
            .await
    }

    /// [`Cache::snapshot`] with or without submodules, whatever the setting: for requests that
    /// say so themselves (upstream's `submoduleEnabled` of GetGitFiles and GetGitDirectories).
    pub async fn snapshot_with(
        &self,
        repo: &Repo,
        sha: &str,
        submodules: bool,
    ) -> Result<Arc<Snapshot>, Error> {
        let remote = self.remote(repo)?;
        let sha = revision::commit(&remote.url, sha)?;
        let id = self.snapshot_id(remote, submodules, repo.lfs);
        let store = &self.inner.store;
        if let Some(snapshot) = store.get(&id, &sha) {
            self.authorized(repo).await?;
            if submodules {
                self.modules_authorized(repo, &id, &snapshot).await?;
            }
            return Ok(snapshot);
        }
        let build = async {
            if let Some(snapshot) = store.get(&id, &sha) {
                return Ok(snapshot);
            }
            let mirror = self.present(remote, &repo.creds, &sha).await?;
            let dest = self.inner.layout.snapshot(&id, &sha);
            let mut modules = submodules.then(|| Modules::new(self, repo));
            let auth = match repo.lfs {
                true => Some(self.auth(remote, &repo.creds).await?),
                false => None,
            };
            let lfs = auth.as_ref().map(|auth| lfs::Objects {
                auth,
                budget: self.inner.settings.budget_bytes,
            });
            let snapshot = snapshot::build(
                &self.inner.git,
                &remote.url,
                &mirror.path,
                &self.inner.layout.scratch,
                &dest,
                &sha,
                snapshot::Extras {
                    lfs: lfs.as_ref(),
                    modules: modules.as_mut(),
                },
            )
            .await?;
            if let Some(modules) = modules {
                self.inner.modules.insert(&id, &sha, modules.found);
            }
            Ok(store.insert(&id, snapshot))
        };
        let snapshot = self
            .inner
            .building
            .run((id.clone(), sha.clone()), build)
            .await?;
        // After the build: a fetch it made with these credentials has proven them already.
        self.authorized(repo).await?;
        if submodules {
            self.modules_authorized(repo, &id, &snapshot).await?;
        }
        Ok(snapshot)
    }

    /// Makes sure the request's credentials, as given to submodules, read every submodule of
    /// a snapshot before it is served, as [`Cache::authorized`] does for the repository: the
    /// snapshot may have been built with another request's credentials.
    async fn modules_authorized(
        &self,
        repo: &Repo,
        id: &str,
        snapshot: &Snapshot,
    ) -> Result<(), Error> {
        let sha = snapshot.sha();
        let found = match self.inner.modules.get(id, sha) {
            Some(found) => found,
            None => {
                let mirror = self.present(&repo.remote, &repo.creds, sha).await?;
                let mut modules = Modules::new(self, repo);
                modules
                    .find(&self.inner.git, &mirror.path, sha, snapshot.path())
                    .await?;
                self.inner.modules.insert(id, sha, modules.found)
            }
        };
        self.modules_readable(repo, &found).await
    }

    async fn modules_readable(&self, repo: &Repo, found: &Found) -> Result<(), Error> {
        let modules = Modules::new(self, repo);
        for (path, remote) in found.iter() {
            let module = modules.repo(remote.clone());
            self.authorized(&module)
                .await
                .map_err(|e| submodule::named(path, &remote.url, e))?;
        }
        Ok(())
    }

    /// [`Cache::authorize`] for what is derived from commit `sha` (full SHA), such as rendered
    /// manifests: with submodules on, the request's credentials must read every submodule of
    /// that commit too. A commit whose submodules are not known yet is snapshotted to learn
    /// them.
    pub async fn authorize_commit(&self, repo: &Repo, sha: &str) -> Result<(), Error> {
        self.authorized(repo).await?;
        if !self.inner.settings.submodules {
            return Ok(());
        }
        let remote = self.remote(repo)?;
        let sha = revision::commit(&remote.url, sha)?;
        match self
            .inner
            .modules
            .get(&self.snapshot_id(remote, true, repo.lfs), &sha)
        {
            Some(found) => self.modules_readable(repo, &found).await,
            None => self.snapshot_with(repo, &sha, true).await.map(drop),
        }
    }

    /// Where a repository's snapshots are stored: with submodules or LFS objects they hold
    /// other content than without, so each kind has its own directory (and snapshots from
    /// before submodules were filled in are never taken for ones with them).
    fn snapshot_id(&self, remote: &Remote, submodules: bool, lfs: bool) -> String {
        let mut key = remote.key.clone();
        if submodules {
            key.push_str("\n+submodules");
        }
        if lfs {
            key.push_str("\n+lfs");
        }
        self.inner.layout.id(&key)
    }

    /// The mirror of a submodule once it holds commit `sha`, fetched like any repository.
    pub(crate) async fn module(&self, repo: &Repo, sha: &str) -> Result<PathBuf, Error> {
        let remote = self.remote(repo)?;
        let mirror = self.present(remote, &repo.creds, sha).await?;
        Ok(mirror.path.clone())
    }

    /// Author, date, message and tags of commit `sha` (full SHA).
    pub async fn commit(&self, repo: &Repo, sha: &str) -> Result<Commit, Error> {
        let remote = self.remote(repo)?;
        let sha = revision::commit(&remote.url, sha)?;
        let mirror = self.present(remote, &repo.creds, &sha).await?;
        self.authorized(repo).await?;
        let git = &self.inner.git;
        let show = git
            .run(Call::new().git_dir(&mirror.path).args([
                "show",
                "-s",
                commit::FORMAT,
                "--end-of-options",
                &sha,
            ]))
            .await
            .map_err(|f| classify::local(&remote.url, "show", f))?;
        let tags = git
            .run(
                Call::new()
                    .git_dir(&mirror.path)
                    .args(["tag", "--points-at", &sha]),
            )
            .await
            .map_err(|f| classify::local(&remote.url, "tag", f))?;
        Commit::parse(&show, &tags).ok_or_else(|| {
            Error::internal(
                &remote.url,
                format!("commit {sha}: unexpected git show output"),
            )
        })
    }

    /// Paths that differ between commits `from` and `to` (full SHAs), for
    /// `UpdateRevisionForPaths`. Renames count as a deletion plus an addition, so that a file
    /// moved out of a watched directory is reported too.
    pub async fn changed_paths(
        &self,
        repo: &Repo,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, Error> {
        let remote = self.remote(repo)?;
        let from = revision::commit(&remote.url, from)?;
        let to = revision::commit(&remote.url, to)?;
        if from == to {
            return Ok(Vec::new());
        }
        self.present(remote, &repo.creds, &from).await?;
        let mirror = self.present(remote, &repo.creds, &to).await?;
        self.authorized(repo).await?;
        let out = self
            .inner
            .git
            .run(Call::new().git_dir(&mirror.path).args([
                "diff",
                "--name-only",
                "-z",
                "--no-renames",
                "--no-ext-diff",
                "--no-textconv",
                "--end-of-options",
                &from,
                &to,
                "--",
            ]))
            .await
            .map_err(|f| classify::local(&remote.url, "diff", f))?;
        Ok(String::from_utf8_lossy(&out)
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect())
    }

    // --- For verify.rs (GnuPG signatures, issue 14 item 6) ---

    /// The mirror holding commit `sha`, readable with `repo`'s credentials, and the SHA
    /// checked; with `tag`, that tag pointing at `sha` too (the mirror is fetched anew once when
    /// its copy of the tag is missing or older).
    pub(crate) async fn verifiable(
        &self,
        repo: &Repo,
        sha: &str,
        tag: Option<&str>,
    ) -> Result<(PathBuf, String), Error> {
        let remote = self.remote(repo)?;
        let sha = revision::commit(&remote.url, sha)?;
        let mirror = self.present(remote, &repo.creds, &sha).await?;
        self.authorized(repo).await?;
        let Some(tag) = tag else {
            return Ok((mirror.path.clone(), sha));
        };
        let git = &self.inner.git;
        let tag_ref = format!("refs/tags/{tag}");
        if mirror.expand(git, &tag_ref).await.as_deref() != Some(sha.as_str()) {
            let held = mirror.lock().await;
            let auth = self.auth(remote, &repo.creds).await?;
            mirror.fetch(&held, git, remote, &auth, Want::All).await?;
        }
        if mirror.expand(git, &tag_ref).await.as_deref() != Some(sha.as_str()) {
            return Err(Error::invalid(
                &remote.url,
                format!("tag {tag:?} no longer points at commit {sha}; retry the request"),
            ));
        }
        Ok((mirror.path.clone(), sha))
    }

    pub(crate) fn git(&self) -> &Git {
        &self.inner.git
    }

    // --- End of verify.rs helpers ---

    /// `TestRepository`: the remote answers a ref listing with these credentials (never cached).
    pub async fn test(&self, repo: &Repo) -> Result<(), Error> {
        let remote = self.remote(repo)?;
        self.ls_remote(remote, &repo.creds).await?;
        let who = self.who(remote, &repo.creds);
        self.inner.grants.grant(&remote.key, who);
        Ok(())
    }

    /// Whom a grant is for: the credentials a command gets, those in the URL included when the
    /// repository has none of its own (as `auth.rs` chooses them).
    fn who(&self, remote: &Remote, creds: &Creds) -> Fingerprint {
        let grants = &self.inner.grants;
        match &remote.userinfo {
            Some((user, password)) if creds.username.is_empty() && creds.password.is_empty() => {
                grants.fingerprint(&Creds {
                    username: user.clone(),
                    password: password.clone(),
                    ..creds.clone()
                })
            }
            _ => grants.fingerprint(creds),
        }
    }

    /// The repository's remote, if this engine may reach its transport.
    fn remote<'r>(&self, repo: &'r Repo) -> Result<&'r Remote, Error> {
        let remote = &repo.remote;
        if remote.transport == Transport::File && !self.inner.settings.allow_file {
            return Err(Error::invalid(
                &remote.url,
                "file repositories are not allowed",
            ));
        }
        if remote.transport == Transport::Oci {
            return Err(Error::invalid(
                &remote.url,
                "an oci:// URL is an OCI registry, not a git repository",
            ));
        }
        Ok(remote)
    }

    /// The credential files of one network command (with a GitHub App's installation token),
    /// written off the async threads.
    async fn auth(&self, remote: &Remote, creds: &Creds) -> Result<Auth, Error> {
        let creds = self.inner.apps.creds(remote, creds.clone()).await?;
        let remote = remote.clone();
        let (scratch, net) = (self.inner.layout.scratch.clone(), self.inner.net.clone());
        let url = remote.url.clone();
        tokio::task::spawn_blocking(move || Auth::new(&remote, &creds, &scratch, &net))
            .await
            .map_err(|e| Error::internal(&url, format!("credential files: {e}")))?
    }

    /// A listing for a lookup a cached one may answer: for a request without credentials,
    /// another replica's shared listing will do.
    async fn list_cached(&self, repo: &Repo) -> Result<Refs, Error> {
        let list = self.ls_remote(&repo.remote, &repo.creds);
        match self.sharing(repo) {
            // Boxed: the wait and the listing would otherwise swell every caller's future.
            Some(sharing) => Box::pin(sharing.cached(&repo.remote.key, list)).await,
            None => list.await,
        }
    }

    /// A new listing, shared with the other replicas if it may be.
    async fn list_fresh(&self, repo: &Repo) -> Result<Refs, Error> {
        let list = self.ls_remote(&repo.remote, &repo.creds);
        match self.sharing(repo) {
            Some(sharing) => sharing.fresh(&repo.remote.key, list).await,
            None => list.await,
        }
    }

    /// Sharing, for a request without credentials: a listing made with credentials, or
    /// trusted as proof of them, stays with this replica (see `shared.rs`).
    fn sharing(&self, repo: &Repo) -> Option<&Sharing> {
        self.inner
            .sharing
            .as_ref()
            .filter(|_| shared::anonymous(repo))
    }

    /// One ref listing, within the listing timeout and parallelism limit, retried as
    /// configured while the server cannot answer (a refusal is final at once).
    async fn ls_remote(&self, remote: &Remote, creds: &Creds) -> Result<Refs, Error> {
        let settings = &self.inner.settings;
        let _slot = match &self.inner.listings {
            Some(slots) => Some(slots.acquire().await.expect("never closed")),
            None => None,
        };
        let mut tries = 0;
        loop {
            let listed = self.list_once(remote, creds).await;
            tries += 1;
            match listed {
                Err(Error::Unavailable { .. } | Error::Timeout { .. })
                    if tries < settings.retry.attempts =>
                {
                    tokio::time::sleep(settings.retry.wait(tries - 1)).await;
                }
                listed => return listed,
            }
        }
    }

    async fn list_once(&self, remote: &Remote, creds: &Creds) -> Result<Refs, Error> {
        let auth = self.auth(remote, creds).await?;
        let out = self
            .inner
            .git
            .remote(
                "ls-remote",
                &remote.url,
                Call::new()
                    .args(["ls-remote", "--symref", "--end-of-options", &remote.url])
                    .auth(&auth)
                    .timeout(self.inner.settings.list_timeout),
            )
            .await
            .map_err(|f| auth.explain(classify::remote(&remote.url, "ls-remote", f)))?;
        Ok(Refs::parse(&out))
    }

    /// The initialized mirror of `remote`.
    async fn mirror(&self, remote: &Remote) -> Result<Arc<Mirror>, Error> {
        let id = self.inner.layout.id(&remote.key);
        let mirror = self
            .inner
            .mirrors
            .lock()
            .entry(id.clone())
            .or_insert_with(|| Arc::new(Mirror::new(self.inner.layout.mirror(&id))))
            .clone();
        mirror
            .init(&self.inner.git, &remote.url, &self.inner.layout.scratch)
            .await?;
        Ok(mirror)
    }

    /// The mirror, once it holds commit `sha`: fetches branches and tags if it is missing, then
    /// the commit itself (it may be reachable only from a ref such as `refs/pull/1/head`).
    async fn present(
        &self,
        remote: &Remote,
        creds: &Creds,
        sha: &str,
    ) -> Result<Arc<Mirror>, Error> {
        let git = &self.inner.git;
        let mirror = self.mirror(remote).await?;
        if mirror.has(git, sha).await {
            return Ok(mirror);
        }
        let held = mirror.lock().await;
        // Another caller's fetch may have brought it while this one waited.
        if mirror.has(git, sha).await {
            return Ok(mirror.clone());
        }
        let auth = self.auth(remote, creds).await?;
        mirror.fetch(&held, git, remote, &auth, Want::All).await?;
        // A fetch with these credentials proves they may read the repository.
        let who = self.who(remote, creds);
        self.inner.grants.grant(&remote.key, who);
        if mirror.has(git, sha).await {
            return Ok(mirror.clone());
        }
        let missing = || Error::not_found(&remote.url, format!("commit {sha}"));
        match mirror
            .fetch(&held, git, remote, &auth, Want::Commit(sha))
            .await
        {
            Ok(()) if mirror.has(git, sha).await => Ok(mirror.clone()),
            // Servers refuse unadvertised objects with all sorts of messages.
            Ok(()) | Err(Error::NotFound { .. } | Error::Unavailable { .. }) => Err(missing()),
            Err(e) => Err(e),
        }
    }

    /// The commit a full SHA names: itself, or the commit an annotated tag object tags (as
    /// upstream's checkout of a tag SHA lands on its commit). A commit with a snapshot needs no
    /// git call; otherwise the mirror answers, fetching once if it lacks the object.
    async fn peel(&self, remote: &Remote, creds: &Creds, sha: String) -> Result<String, Error> {
        // A snapshot without LFS objects proves the SHA names a commit as well as one with.
        let id = self.snapshot_id(remote, self.inner.settings.submodules, false);
        if self.inner.store.get(&id, &sha).is_some() {
            return Ok(sha);
        }
        let git = &self.inner.git;
        if let Some(commit) = self.mirror(remote).await?.expand(git, &sha).await {
            return Ok(commit);
        }
        let mirror = self.present(remote, creds, &sha).await?;
        mirror
            .expand(git, &sha)
            .await
            .ok_or_else(|| Error::not_found(&remote.url, format!("commit {sha}")))
    }

    /// Resolves an abbreviated SHA in the mirror, fetching once if it is unknown.
    async fn expand(
        &self,
        remote: &Remote,
        creds: &Creds,
        abbreviated: &str,
    ) -> Result<Resolved, Error> {
        let git = &self.inner.git;
        let found = |sha| Resolved {
            sha,
            reference: None,
        };
        let mirror = self.mirror(remote).await?;
        if let Some(sha) = mirror.expand(git, abbreviated).await {
            return Ok(found(sha));
        }
        let held = mirror.lock().await;
        if let Some(sha) = mirror.expand(git, abbreviated).await {
            return Ok(found(sha));
        }
        let auth = self.auth(remote, creds).await?;
        mirror.fetch(&held, git, remote, &auth, Want::All).await?;
        match mirror.expand(git, abbreviated).await {
            Some(sha) => Ok(found(sha)),
            None => Err(Error::not_found(
                &remote.url,
                format!("revision {abbreviated:?}"),
            )),
        }
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("dir", &self.inner.settings.dir)
            .finish_non_exhaustive()
    }
}
