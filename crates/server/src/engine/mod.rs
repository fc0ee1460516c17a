//! The repository engine behind the RPCs: git cache, renderer and manifest cache together,
//! behind one closed façade. Handlers hand it parsed domain values (`repo_source`) and get
//! domain values back; every render input is built here, and blocking file work runs on the
//! blocking pool.

mod changes;
mod error;
mod fetched;
mod integrity;
mod key;
mod paths;
mod plugin;
mod refs;
mod remote;
mod request;
mod shared;
mod upstream;
mod work;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use repo_cache::{Manifests, Memory, Settings, Store, Tiered};
use repo_git::{Cache, Commit, Refresh, Refs};
use repo_proto::repository::ManifestResponse;
use repo_render::{Input, Root, Scans, SourceType, Tools, Tracking, Values};
use repo_source::{App, Repo, Revision, Source};
use tracing::Instrument;

pub(crate) use error::Error;
pub(crate) use integrity::Verified;
pub(crate) use refs::{RefSource, RefSources};
pub(crate) use request::{Changes, Context, Details, Generate, Generated, Probe, RefTarget};
pub(crate) use work::Work;

use crate::config;
use crate::metrics::Metrics;

pub(crate) struct Engine {
    git: Cache,
    /// In memory, or tiered in front of Redis.
    manifests: Manifests<Box<dyn Store>>,
    /// Whether replicas share the manifests (Redis): a move finds them by upstream's name.
    shared: bool,
    tools: Arc<Tools>,
    /// Snapshots already scanned for escaping symlinks (they never change).
    scans: Scans,
    /// `--include-hidden-directories`: GetGitDirectories lists hidden directories too.
    include_hidden: bool,
    /// `--streamed-manifest-max-tar-size` and `--streamed-manifest-max-extracted-size`.
    streamed_max: (u64, u64),
    variants: key::Variants,
    /// Helm charts and OCI artifacts: fetched, unpacked, shared.
    sources: fetched::Sources,
    /// GnuPG verification of the AppProject's source-integrity policies.
    integrity: integrity::Integrity,
    /// What renders cost, charged to their caller and repository.
    usage: Arc<crate::metrics::Usage>,
    /// Upstream's `argocd_repo_pending_request_total`.
    pending: crate::metrics::Pending,
    /// Config management plugin sidecars.
    plugins: plugin::Plugins,
}

impl Engine {
    pub(crate) fn new(settings: &config::Engine, metrics: Arc<Metrics>) -> Result<Self, Error> {
        let mut git = repo_git::Settings::new(settings.repo_cache_dir.join("git"));
        let usage = metrics.usage.clone();
        let pending = metrics.pending.clone();
        let observed = metrics.clone();
        git.observer = Some(repo_git::Observer::new(move |request| {
            observed.git(request)
        }));
        git.budget_bytes = settings.repo_cache_bytes;
        git.allow_file = settings.allow_file;
        git.ref_cache_ttl = settings.expiry.revision;
        // Connects in the background: the server serves while Redis is down.
        let redis = (settings.redis.as_ref())
            .map(|r| shared::connect(r, &metrics).map(|client| (client, r.lock_timeout)))
            .transpose()
            .map_err(|e| Error::internal("the Redis client", e))?;
        if let Some((client, lock_timeout)) = &redis {
            git.shared_refs = Some(Arc::new(shared::GitRefs(client.clone())));
            git.ref_lock_timeout = *lock_timeout;
        }
        git.submodules = settings.git.submodules;
        git.github_app_creds_expiration = settings.git.github_app_creds_expiration;
        git.known_hosts = settings.git.known_hosts.clone();
        // Custom CAs and the pod's proxies, as for Helm repositories and OCI registries.
        git.tls_data_path = settings.fetch.tls_data_path.clone();
        git.proxies = settings.fetch.proxies();
        git.list_timeout = settings.git.request_timeout;
        git.list_parallelism = settings.git.ls_remote_parallelism;
        git.retry = repo_git::Retry {
            attempts: settings.git.attempts.max(1),
            wait: settings.git.retry_wait,
            max_wait: settings.git.retry_max_wait,
            factor: u32::try_from(settings.git.retry_factor).unwrap_or(u32::MAX),
        };
        if settings.exec_fatal_timeout != config::DEFAULT_EXEC_FATAL_TIMEOUT {
            tracing::warn!("ARGOCD_EXEC_FATAL_TIMEOUT is not honoured: a tool past ARGOCD_EXEC_TIMEOUT is killed with its whole process group at once, without a grace period");
        }
        if settings.manifests.allow_out_of_bounds_symlinks {
            tracing::warn!("--allow-oob-symlinks is not honoured: a symlink that leaves the repository always fails the render here");
        }
        let mut tools = Tools::discover();
        tools.timeout = settings.exec_timeout;
        tools.max_directory_bytes = settings.manifests.max_combined_directory_bytes;
        tools.scratch = settings.repo_cache_dir.join("scratch");
        tools.untrusted.push(settings.repo_cache_dir.clone());
        tools.proxy_env = proxy_env(&settings.fetch.proxies());
        let memory = Memory::new(settings.manifest_cache_bytes).with_ttl(settings.expiry.repo);
        let store: Box<dyn Store> = match &redis {
            Some((client, _)) => Box::new(Tiered::new(
                memory,
                upstream::Shared::new(
                    client.clone(),
                    settings.expiry.repo,
                    metrics.redis.corrupt.clone(),
                ),
            )),
            None => Box::new(memory),
        };
        let mut manifests = Manifests::new(
            store,
            Settings {
                parallelism: settings.parallelism,
                pause_after_failures: settings.pause_after_failures,
                pause_for: settings.pause_for,
                pause_for_requests: settings.pause_for_requests,
            },
        );
        if let Some((client, lock_timeout)) = &redis {
            let locks = Arc::new(upstream::Shared::new(
                client.clone(),
                settings.expiry.repo,
                metrics.redis.corrupt.clone(),
            ));
            manifests = manifests.with_locks(locks, *lock_timeout);
        }
        let sources = fetched::Sources::new(
            fetcher(settings, &metrics)?,
            settings.repo_cache_dir.join("unpacked"),
            fetched::Caps {
                helm: settings.fetch.helm_max_extracted_bytes,
                oci: settings.fetch.oci_max_extracted_bytes,
                // Unpacked archives share the repository cache's budget, as the archives do.
                kept_bytes: settings.repo_cache_bytes / 4,
            },
            metrics,
        )
        .map_err(|e| Error::internal("the unpacked-archive directory", e))?;
        Ok(Self {
            git: Cache::new(git)?,
            manifests,
            shared: redis.is_some(),
            tools: Arc::new(tools),
            scans: Scans::default(),
            include_hidden: settings.manifests.include_hidden_directories,
            streamed_max: (
                settings.manifests.streamed_max_tar_bytes,
                settings.manifests.streamed_max_extracted_bytes,
            ),
            variants: key::Variants::default(),
            sources,
            integrity: integrity::Integrity::new(
                settings.gpg.enabled,
                settings.gpg.data_path.clone(),
                settings.gpg.gnupg_home.clone(),
            ),
            usage,
            pending,
            plugins: plugin::Plugins::new(&settings.plugins, settings.exec_timeout),
        })
    }

    /// Resolves `revision` of `repo` to a commit.
    pub(crate) async fn resolve(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
        refresh: Refresh,
    ) -> Result<String, Error> {
        let resolved = self.git.resolve_commit(repo, revision, tag_prefix, refresh);
        Ok(resolved.await?.sha)
    }

    /// Resolves `revision` and opens the commit's shared snapshot.
    async fn checkout(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
        refresh: Refresh,
    ) -> Result<(String, Arc<repo_git::Snapshot>), Error> {
        self.git.prefetch(repo);
        let sha = self.resolve(repo, revision, tag_prefix, refresh).await?;
        let snapshot = self.git.snapshot(repo, &sha).await?;
        Ok((sha, snapshot))
    }

    /// The branches and tags of a repository (ListRefs).
    pub(crate) async fn refs(&self, repo: &Repo) -> Result<Arc<Refs>, Error> {
        let _waiting = self.pending.start(repo.url());
        Ok(self.git.refs(repo).await?)
    }

    /// Author, date, message and tags of a revision (GetRevisionMetadata), and its check
    /// against `policies` (with `check_signature`, the deprecated `checkSignature`).
    pub(crate) async fn metadata(
        &self,
        repo: &Repo,
        revision: &Revision,
        policies: &repo_git::Policies,
        check_signature: bool,
    ) -> Result<(Commit, Verified), Error> {
        let _waiting = self.pending.start(repo.url());
        let sha = self.resolve(repo, revision, "", Refresh::Cached).await?;
        let subject = integrity::Subject {
            repo,
            revision: None,
            sha: &sha,
        };
        let verified = (self.integrity)
            .check(&self.git, subject, policies, check_signature)
            .await?;
        Ok((self.git.commit(repo, &sha).await?, verified))
    }

    /// The concrete revision a source names: a commit for git, the chart version a constraint
    /// picks for a Helm chart, the digest of an OCI artifact's tag (ResolveRevision).
    pub(crate) async fn revision(
        &self,
        source: &Source,
        refresh: Refresh,
    ) -> Result<String, Error> {
        match source {
            Source::Git(git) => {
                self.resolve(&git.repo, &git.revision, &git.tag_prefix, refresh)
                    .await
            }
            other => {
                self.sources
                    .revision(other, refresh == Refresh::Fresh)
                    .await
            }
        }
    }

    /// The files of `source` at `revision` (from [`Engine::revision`]), shared and read-only.
    async fn content(&self, source: &Source, revision: &str) -> Result<Content, Error> {
        Ok(match source {
            Source::Git(git) => Content::Snapshot(self.git.snapshot(&git.repo, revision).await?),
            other => Content::Unpacked(self.sources.fetch(other, revision).await?),
        })
    }

    /// GenerateManifest: from the cache when it holds this exact input, else rendered once
    /// however many callers ask at the same time.
    pub(crate) async fn generate(&self, req: &Generate) -> Result<Generated, Error> {
        let source = &req.source;
        let (repo, app) = (source.repo(), source.app());
        let spec = &app.spec;
        if let Source::Git(git) = source {
            self.git.prefetch(repo);
            // A source of a multi-source app with neither path nor chart renders nothing; a
            // ref source only names its revision (upstream resolves it without the tag prefix).
            if req.multiple && spec.path().is_empty() && spec.chart().is_empty() {
                let prefix = match spec.r#ref() {
                    "" => git.tag_prefix.as_str(),
                    _ => "",
                };
                let sha = self
                    .resolve(repo, &git.revision, prefix, req.refresh)
                    .await?;
                return Ok(Generated {
                    manifests: vec![],
                    source_type: String::new(),
                    commands: vec![],
                    revision: sha,
                    verified: Verified::default(),
                });
            }
        }
        let revision = self.revision(source, req.refresh).await?;
        // Manifests are content of the repository (and its submodules): only credentials that
        // may read it get them, from the cache or not (a full SHA, an exact chart version or a
        // digest resolves without asking the server).
        match source {
            Source::Git(_) => self.git.authorize_commit(repo, &revision).await?,
            other => self.sources.authorize(other, &revision).await?,
        }
        // Checked on every request, outside the manifest cache: the policies, the keys and
        // the commit's signatures are judged anew. Upstream applies git policies to git
        // sources only (a Helm chart or OCI artifact gets no check, and the controller
        // expects none).
        let verified = match source {
            Source::Git(git) => {
                let subject = integrity::Subject {
                    repo,
                    revision: Some((&git.revision, &git.tag_prefix)),
                    sha: &revision,
                };
                (self.integrity)
                    .check(&self.git, subject, &req.policies, req.verify_signature)
                    .await?
            }
            _ => Verified::default(),
        };
        let ctx = &req.context;
        let others = match req.multiple {
            true => {
                let main = refs::Main {
                    repo,
                    revision: source.revision().as_str(),
                    sha: &revision,
                };
                let used = refs::used(spec);
                self.resolve_refs(&ctx.refs, &used, &main, req.refresh)
                    .await?
            }
            false => vec![],
        };
        let repo_key = key::repository(repo);
        let parts = key::Parts {
            repo: &repo_key,
            spec,
            context: ctx,
            refs: &req.ref_sources,
            integrity: req.integrity.as_ref(),
        };
        let ref_commits = refs::commits(&others);
        let base = parts.base(&revision, &ref_commits);
        let extras = key::extras(ctx);
        self.variants.remember(base.clone(), &extras);
        let full = key::full(&base, &extras);
        let full = match self.shared {
            true => key::named(full, &parts, &revision, &ref_commits, &extras),
            false => full,
        };
        // The cache keeps upstream's own message, so a hit is one decode.
        // Upstream's pending requests, until the answer is known (metrics/pending.rs).
        let _waiting = self.pending.start(repo.url());
        // The cache names how it answered (hit, shared, miss) on this span.
        let lookup = tracing::debug_span!("manifest cache", cache.result = tracing::field::Empty);
        let bytes = self
            .manifests
            .get_or_render(full, req.no_cache, || async {
                let rendered = async {
                    let content = self.content(source, &revision).await?;
                    let snapshots = self.snapshot_refs(&others).await?;
                    let at = Place {
                        root: content.path(),
                        refs: &refs::roots(&snapshots),
                        scans: Some(&self.scans),
                        revision: &revision,
                        url: repo.url(),
                        plugins: plugin::Ask::First {
                            creds: plugin::has_creds(repo),
                        },
                    };
                    self.render(app, ctx, &at).await
                };
                rendered
                    .await
                    .map(|g| encode(g).encode_to_vec())
                    .map_err(|e| crate::status::failure(&e))
            })
            .instrument(lookup)
            .await
            .map_err(Error::Cached)?;
        let response = ManifestResponse::decode(bytes.as_slice())
            .map_err(|e| Error::internal("manifest cache entry", e))?;
        Ok(Generated {
            manifests: response.manifests,
            source_type: response.source_type,
            commands: response.commands,
            // A moved entry was rendered at an earlier commit that differs only outside the
            // app's paths: it answers for this one.
            revision,
            verified,
        })
    }

    /// GenerateManifestWithFiles: unpacks the archive the caller streamed to
    /// [`Engine::archive`] in `work` (from [`Engine::workdir`]) and renders it, in a
    /// `--parallelismlimit` slot. Upstream reports the revision `streamed`.
    pub(crate) async fn generate_streamed(
        &self,
        app: &App,
        ctx: &Context,
        work: &Path,
        url: &str,
    ) -> Result<Generated, Error> {
        let _waiting = self.pending.start(url);
        self.manifests
            .with_slot(async {
                let root = work.join("files");
                let (archive, dir) = (Self::archive(work), root.clone());
                let max = self.streamed_max.1;
                blocking(move || {
                    let io = |source| repo_render::Error::Io {
                        context: "streamed files".into(),
                        source,
                    };
                    std::fs::create_dir(&dir).map_err(io)?;
                    let file = std::fs::File::open(&archive).map_err(io)?;
                    let reader = std::io::BufReader::new(file);
                    let unpacked = repo_render::unpack(
                        reader,
                        &dir,
                        max,
                        repo_render::MAX_ENTRIES,
                        "streamed files",
                    );
                    // Only the unpacked files count from here on.
                    let _ = std::fs::remove_file(&archive);
                    unpacked.map(drop)
                })
                .await?;
                let at = Place {
                    root: &root,
                    refs: &[],
                    scans: None,
                    revision: "streamed",
                    url,
                    plugins: plugin::Ask::First { creds: false },
                };
                self.render(app, ctx, &at).await
            })
            .await
    }

    /// Where a streamed archive is received in `work`.
    pub(crate) fn archive(work: &Path) -> PathBuf {
        work.join("archive.tgz")
    }

    /// `--streamed-manifest-max-tar-size`.
    pub(crate) fn max_tar_bytes(&self) -> u64 {
        self.streamed_max.0
    }

    /// Renders `app` against the files `at` describes.
    async fn render(&self, app: &App, ctx: &Context, at: &Place<'_>) -> Result<Generated, Error> {
        let Place {
            root,
            refs,
            scans,
            revision,
            url,
            plugins,
        } = *at;
        let span = tracing::debug_span!("render", render.tool = tracing::field::Empty);
        let input = Input {
            root,
            source: &app.spec,
            // A chart's directory is not the source's `path` (upstream leaves it empty).
            app_path: Some(&app.path),
            app_name: &ctx.name,
            namespace: &ctx.namespace,
            project: &ctx.project,
            kube_version: &ctx.kube_version,
            api_versions: &ctx.api_versions,
            tracking: Tracking {
                method: &ctx.tracking_method,
                label_key: &ctx.label_key,
                installation_id: &ctx.installation_id,
            },
            enabled: &ctx.enabled,
            revision,
            repo_url: url,
            tools: &self.tools,
            kustomize: &ctx.kustomize,
            scans,
            values: Values {
                refs,
                schemes: &ctx.schemes,
                fetch: Some(&remote::Remote),
            },
            helm_repos: &ctx.helm_repos,
        };
        // A plugin's discovery comes before the built-in tools' (upstream's AppType).
        let work = async {
            let by_plugin = match plugins {
                plugin::Ask::First { creds } => {
                    (self.plugins.render(&input, creds, &ctx.generate_paths)).await?
                }
                plugin::Ask::Never => None,
            };
            match by_plugin {
                Some(rendered) => Ok(rendered),
                None => Ok::<_, Error>(repo_render::render(&input).await?),
            }
        };
        let rendered = (self.usage.metered(url, work))
            .instrument(span.clone())
            .await?;
        span.record("render.tool", rendered.source_type.as_str());
        Ok(Generated {
            manifests: rendered.manifests,
            source_type: rendered.source_type.as_str().to_string(),
            commands: rendered.commands,
            revision: revision.to_string(),
            verified: Verified::default(),
        })
    }

    /// The config management plugin sidecars with a socket (ListPlugins).
    pub(crate) async fn plugin_names(&self) -> Result<Vec<String>, Error> {
        self.plugins.names().await
    }

    /// A private directory for streamed files, removed when dropped (also after a refusal).
    pub(crate) fn workdir(&self) -> Result<Work, Error> {
        std::fs::create_dir_all(&self.tools.scratch)
            .and_then(|()| {
                tempfile::Builder::new()
                    .prefix("streamed-")
                    .tempdir_in(&self.tools.scratch)
            })
            .map(Work::new)
            .map_err(|e| Error::internal("cannot create a work directory", e))
    }

    /// The applications discovery finds in a revision (ListApps).
    pub(crate) async fn apps(
        &self,
        repo: &Repo,
        revision: &Revision,
        enabled: HashMap<String, bool>,
    ) -> Result<HashMap<String, String>, Error> {
        let _waiting = self.pending.start(repo.url());
        let root = self.root(repo, revision, Refresh::Cached).await?;
        if self.plugins.takes_root(root.path()).await {
            let app = (".".to_string(), SourceType::Plugin.to_string());
            return Ok(HashMap::from([app]));
        }
        blocking(move || repo_render::discover(&root, &enabled)).await
    }

    /// Files matching a glob in a revision, with their contents (GetGitFiles). Submodules
    /// are read when the request asks and the new globbing is on (upstream's legacy
    /// `git ls-files` mode never lists their files).
    pub(crate) async fn files(
        &self,
        repo: &Repo,
        revision: &Revision,
        pattern: String,
        (new_globbing, submodules): (bool, bool),
        refresh: Refresh,
        policies: &repo_git::Policies,
    ) -> Result<HashMap<String, Vec<u8>>, Error> {
        let _waiting = self.pending.start(repo.url());
        let submodules = submodules && new_globbing;
        let root = (self.verified_root(repo, revision, refresh, submodules, policies)).await?;
        blocking(move || repo_render::files(&root, &pattern, new_globbing)).await
    }

    /// The directories of a revision (GetGitDirectories), in submodules too when the request
    /// says `submoduleEnabled`.
    pub(crate) async fn directories(
        &self,
        repo: &Repo,
        revision: &Revision,
        refresh: Refresh,
        submodules: bool,
        policies: &repo_git::Policies,
    ) -> Result<Vec<String>, Error> {
        let _waiting = self.pending.start(repo.url());
        let root = (self.verified_root(repo, revision, refresh, submodules, policies)).await?;
        let hidden = self.include_hidden;
        blocking(move || repo_render::directories(&root, hidden)).await
    }

    /// The snapshot of `revision` (submodules as the request says), once its commit passed
    /// the request's source-integrity check: a failed check refuses with upstream's problems,
    /// before anything of the commit is read (GetGitFiles, GetGitDirectories). The deprecated
    /// `verifyCommit` adds nothing: upstream checks it only after a policy judged this same
    /// commit, and a commit that passed carries a good signature.
    async fn verified_root(
        &self,
        repo: &Repo,
        revision: &Revision,
        refresh: Refresh,
        submodules: bool,
        policies: &repo_git::Policies,
    ) -> Result<Root, Error> {
        self.git.prefetch(repo);
        let sha = self.resolve(repo, revision, "", refresh).await?;
        // Upstream verifies the resolved commit here, not the tag that named it.
        let subject = integrity::Subject {
            repo,
            revision: None,
            sha: &sha,
        };
        let verified = (self.integrity)
            .check(&self.git, subject, policies, false)
            .await?;
        verified.refusal()?;
        let snapshot = self.git.snapshot_with(repo, &sha, submodules).await?;
        Ok(Root::new(snapshot.path())?)
    }

    /// The snapshot of `revision`, with submodules as the server's
    /// `ARGOCD_GIT_MODULES_ENABLED`.
    async fn root(
        &self,
        repo: &Repo,
        revision: &Revision,
        refresh: Refresh,
    ) -> Result<Root, Error> {
        let (_, snapshot) = self.checkout(repo, revision, "", refresh).await?;
        Ok(Root::new(snapshot.path())?)
    }

    /// GetAppDetails: the app's type and what the UI shows of it.
    pub(crate) async fn details(
        &self,
        source: &Source,
        ctx: &Context,
        refresh: Refresh,
    ) -> Result<(SourceType, Details), Error> {
        let (repo, app) = (source.repo(), source.app());
        if let Source::Git(_) = source {
            self.git.prefetch(repo);
        }
        let revision = (self.revision(source, refresh).await)
            .map_err(|e| missing_revision(e, source.revision()))?;
        let content = self.content(source, &revision).await?;
        let root = Root::new(content.path())?;
        let main = refs::Main {
            repo,
            revision: source.revision().as_str(),
            sha: &revision,
        };
        // Upstream first resolves what the request's own source names (so a missing ref
        // fails), then reads the source merged with its override files.
        if !ctx.refs.is_empty() {
            let used = refs::used(&app.spec);
            self.resolve_refs(&ctx.refs, &used, &main, refresh).await?;
        }
        let (path, spec, enabled, name) = (
            app.path.clone(),
            app.spec.clone(),
            ctx.enabled.clone(),
            ctx.name.clone(),
        );
        let probe = root.clone();
        let (kind, merged) = blocking(move || {
            let dir = probe.open(&path).map_err(missing_path)?;
            let merged = repo_render::overrides(&probe, &path, &spec, &name)?;
            let kind = repo_render::detect(probe.path(), &dir, &merged, &enabled)?;
            Ok((kind, merged))
        })
        .await?;
        let target = match source {
            Source::Git(_) => source.revision().as_str(),
            _ => &revision,
        };
        let build = plugin::details_env(&ctx.name, target, repo.url(), &app.spec);
        let plugin = (self.plugins).details(root.path(), &app.path, &merged, &ctx.enabled, build);
        if let Some(announced) = plugin.await? {
            return Ok((SourceType::Plugin, Details::Plugin(announced)));
        }
        let details = match kind {
            SourceType::Helm => {
                // Only the refs the selected value files name are checked out.
                let files = merged.helm.iter().flat_map(|h| &h.value_files);
                let used: Vec<String> = refs::named(files.map(String::as_str))
                    .into_iter()
                    .filter(|n| ctx.refs.contains_key(n))
                    .collect();
                let others = self.resolve_refs(&ctx.refs, &used, &main, refresh).await?;
                let snapshots = self.snapshot_refs(&others).await?;
                let values = Values {
                    refs: &refs::roots(&snapshots),
                    schemes: &ctx.schemes,
                    fetch: Some(&remote::Remote),
                };
                Details::Helm(repo_render::chart(&root, &app.path, &merged, values).await?)
            }
            SourceType::Kustomize => {
                let at = Place {
                    root: root.path(),
                    refs: &[],
                    scans: Some(&self.scans),
                    revision: &revision,
                    url: repo.url(),
                    // Upstream's Kustomize details run kustomize alone.
                    plugins: plugin::Ask::Never,
                };
                let rendered = self.render(app, ctx, &at).await?;
                Details::Kustomize {
                    images: repo_render::images(&rendered.manifests),
                }
            }
            SourceType::Directory => Details::Directory,
            // Described by the plugin path above, which answers or fails for these.
            SourceType::Plugin => {
                return Err(Error::Internal(
                    "a plugin app reached the built-in tools".into(),
                ))
            }
        };
        Ok((kind, details))
    }

    /// GetHelmCharts: the charts of a Helm repository's index, names sorted, versions in index
    /// order (read anew, as upstream).
    pub(crate) async fn charts(&self, repo: &Repo) -> Result<Vec<(String, Vec<String>)>, Error> {
        let index = self.sources.fetcher().index(repo, true).await?;
        Ok(index
            .entries
            .iter()
            .map(|(name, entries)| {
                (
                    name.clone(),
                    entries.iter().map(|e| e.version.clone()).collect(),
                )
            })
            .collect())
    }

    /// GetRevisionChartDetails: description, home and maintainers of a chart version.
    pub(crate) async fn chart_summary(
        &self,
        source: &Source,
    ) -> Result<repo_render::Summary, Error> {
        let revision = self.revision(source, Refresh::Fresh).await?;
        let content = self.content(source, &revision).await?;
        let root = Root::new(content.path())?;
        let app = source.app().path.clone();
        blocking(move || repo_render::summary(&root, &app)).await
    }

    /// Whether a repository answers with these credentials (TestRepository).
    pub(crate) async fn test(&self, probe: &Probe) -> Result<(), Error> {
        match probe {
            Probe::Git(repo) => Ok(self.git.test(repo).await?),
            Probe::Index(repo) => self.sources.test(repo, fetched::Kind::Index).await,
            Probe::Oci { repo, plain_http } => {
                let kind = fetched::Kind::Oci {
                    plain_http: *plain_http,
                };
                self.sources.test(repo, kind).await
            }
        }
    }

    /// ListOCITags: the tags of an OCI repository.
    pub(crate) async fn oci_tags(
        &self,
        repo: &Repo,
        plain_http: bool,
    ) -> Result<Vec<String>, Error> {
        let _waiting = self.pending.start(repo.url());
        Ok(self.sources.tags(repo, plain_http).await?)
    }

    /// GetOCIMetadata: the annotations of an OCI artifact's manifest.
    pub(crate) async fn oci_metadata(
        &self,
        repo: &Repo,
        plain_http: bool,
        digest: &str,
    ) -> Result<repo_fetch::Metadata, Error> {
        Ok(self.sources.metadata(repo, plain_http, digest).await?)
    }
}

/// The files of a revision: a git snapshot or an unpacked archive, kept while read.
enum Content {
    Snapshot(Arc<repo_git::Snapshot>),
    Unpacked(Arc<fetched::Dir>),
}

impl Content {
    fn path(&self) -> &Path {
        match self {
            Self::Snapshot(s) => s.path(),
            Self::Unpacked(d) => d.path(),
        }
    }
}

/// The pod's proxy variables as every tool gets them (both spellings, as Go reads either).
fn proxy_env(p: &repo_source::Proxies) -> Vec<(String, String)> {
    [
        ("HTTPS_PROXY", &p.https),
        ("HTTP_PROXY", &p.http),
        ("NO_PROXY", &p.no),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .flat_map(|(name, value)| {
        [name.to_string(), name.to_ascii_lowercase()].map(|name| (name, value.clone()))
    })
    .collect()
}

/// The fetcher of Helm repositories and OCI registries, from the engine's settings.
fn fetcher(
    settings: &config::Engine,
    metrics: &Arc<Metrics>,
) -> Result<repo_fetch::Fetcher, Error> {
    let f = &settings.fetch;
    let observed = metrics.clone();
    let fetch = repo_fetch::Settings {
        dir: settings.repo_cache_dir.join("charts"),
        // Archives share the repository cache's budget with the git mirrors.
        budget_bytes: settings.repo_cache_bytes / 4,
        index_ttl: f.index_ttl,
        max_index_bytes: f.max_index_bytes,
        // An archive is never larger than what it unpacks to, give or take its headers.
        max_archive_bytes: match (f.helm_max_extracted_bytes, f.oci_max_extracted_bytes) {
            (Some(helm), Some(oci)) => helm.max(oci),
            _ => u64::MAX,
        },
        tls_data_path: f.tls_data_path.clone(),
        oci_media_types: f.oci_media_types.clone(),
        timeout: settings
            .git
            .request_timeout
            .max(std::time::Duration::from_secs(60)),
        user_agent: f.user_agent.clone(),
        proxies: f.proxies(),
        observer: Some(repo_fetch::Observer::new(move |event| {
            observed.fetch(event)
        })),
    };
    repo_fetch::Fetcher::new(fetch).map_err(Error::Fetch)
}

/// The files a render reads: `root`, the ref sources' `refs` (name, root); `scans` remembers
/// the symlink scan of immutable roots (git snapshots); `revision` and `url` are the app's.
#[derive(Clone, Copy)]
struct Place<'a> {
    root: &'a Path,
    refs: &'a [(String, PathBuf)],
    scans: Option<&'a Scans>,
    revision: &'a str,
    url: &'a str,
    /// Whether the plugins are asked first.
    plugins: plugin::Ask,
}

/// GetAppDetails' missing app path, as the caller's mistake with upstream's message
/// (`toUserInputStatusError`: InvalidArgument).
fn missing_path(e: repo_render::Error) -> repo_render::Error {
    match e {
        repo_render::Error::NotFound { path } => {
            repo_render::Error::InvalidArgument(format!("{path}: app path does not exist"))
        }
        e => e,
    }
}

/// GetAppDetails' unknown revision, likewise (upstream's `ErrRevisionNotFound`).
fn missing_revision(e: Error, revision: &Revision) -> Error {
    match e {
        Error::Git(repo_git::Error::NotFound { url, what })
            if what.starts_with("revision") || what.starts_with("commit") =>
        {
            Error::Request(format!(
                "{url}: unable to resolve '{}' to a commit SHA: revision not found",
                revision.as_str()
            ))
        }
        e => e,
    }
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, repo_render::Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal("file work", e))?
        .map_err(Error::from)
}

/// The cache's value: upstream's own message.
fn encode(g: Generated) -> ManifestResponse {
    ManifestResponse {
        manifests: g.manifests,
        revision: g.revision,
        source_type: g.source_type,
        commands: g.commands,
        ..Default::default()
    }
}
