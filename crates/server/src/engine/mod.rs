//! The repository engine behind the RPCs: git cache, renderer and manifest cache together,
//! behind one closed façade. Handlers hand it parsed domain values (`repo_source`) and get
//! domain values back; every render input is built here, and blocking file work runs on the
//! blocking pool.

pub mod charts;
mod error;
mod paths;
mod request;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use repo_cache::{KeyBuilder, Manifests, Memory, Settings};
use repo_git::{Cache, Commit, Refresh, Refs};
use repo_proto::repository::ManifestResponse;
use repo_render::{Input, Root, Scans, SourceType, Tools, Tracking};
use repo_source::{App, Repo, Revision, Source};

pub use error::Error;
pub use request::{Context, Details, Generate, Generated};

use crate::config;
use crate::metrics::Metrics;

pub struct Engine {
    git: Cache,
    manifests: Manifests<Memory>,
    tools: Arc<Tools>,
    /// Snapshots already scanned for escaping symlinks (they never change).
    scans: Scans,
    /// `--include-hidden-directories`: GetGitDirectories lists hidden directories too.
    include_hidden: bool,
}

impl Engine {
    pub fn new(settings: &config::Engine, metrics: Arc<Metrics>) -> Result<Self, repo_git::Error> {
        let mut git = repo_git::Settings::new(settings.repo_cache_dir.join("git"));
    /// `--streamed-manifest-max-tar-size` and `--streamed-manifest-max-extracted-size`.
    streamed_max: (u64, u64),
        git.observer = Some(repo_git::Observer::new(move |request| metrics.git(request)));
        git.budget_bytes = settings.repo_cache_bytes;
        git.allow_file = settings.allow_file;
        let mut tools = Tools::discover();
        tools.timeout = settings.exec_timeout;
        tools.max_directory_bytes = settings.manifests.max_combined_directory_bytes;
        tools.scratch = settings.repo_cache_dir.join("scratch");
        tools.untrusted.push(settings.repo_cache_dir.clone());
        let manifests = Manifests::new(
            Memory::new(settings.manifest_cache_bytes),
            Settings {
                parallelism: settings.parallelism,
                pause_after_failures: settings.pause_after_failures,
                pause_for: settings.pause_for,
                pause_for_requests: settings.pause_for_requests,
            },
        );
        Ok(Self {
            git: Cache::new(git)?,
            manifests,
            tools: Arc::new(tools),
            scans: Scans::default(),
            include_hidden: settings.manifests.include_hidden_directories,
        })
    }

    /// Resolves `revision` of `repo` to a commit.
    pub async fn resolve(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
    ) -> Result<String, Error> {
        let refresh = Refresh::Cached;
            streamed_max: (
                settings.manifests.streamed_max_tar_bytes,
                settings.manifests.streamed_max_extracted_bytes,
            ),
        let resolved = self.git.resolve_commit(repo, revision, tag_prefix, refresh);
        Ok(resolved.await?.sha)
    }

    /// Resolves `revision` and opens the commit's shared snapshot.
    async fn checkout(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
    ) -> Result<(String, Arc<repo_git::Snapshot>), Error> {
        self.git.prefetch(repo);
        let sha = self.resolve(repo, revision, tag_prefix).await?;
        let snapshot = self.git.snapshot(repo, &sha).await?;
        Ok((sha, snapshot))
    }

    /// The branches and tags of a repository (ListRefs).
    pub async fn refs(&self, repo: &Repo) -> Result<Arc<Refs>, Error> {
        Ok(self.git.refs(repo).await?)
    }

    /// Whether the repository answers with these credentials (TestRepository).
    pub async fn test(&self, repo: &Repo) -> Result<(), Error> {
        Ok(self.git.test(repo).await?)
    }

    /// Author, date, message and tags of a revision (GetRevisionMetadata).
    pub async fn metadata(&self, repo: &Repo, revision: &Revision) -> Result<Commit, Error> {
        let sha = self.resolve(repo, revision, "").await?;
        Ok(self.git.commit(repo, &sha).await?)
    }

    /// GenerateManifest: from the cache when it holds this exact input, else rendered once
    /// however many callers ask at the same time.
    pub async fn generate(&self, req: &Generate) -> Result<Generated, Error> {
        let Source::Git(git) = &req.source;
        let repo = &git.repo;
        self.git.prefetch(repo);
        let sha = self.resolve(repo, &git.revision, &git.tag_prefix).await?;
        let ctx = &req.context;
        let mut refs: Vec<_> = req.ref_sources.iter().collect();
        refs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut key = KeyBuilder::new()
            .part("repo", repo.remote.key.as_bytes())
            .part("commit", sha.as_bytes())
            .part("source", &git.app.spec.encode_to_vec())
            .part("namespace", ctx.namespace.as_bytes())
            .part("tracking", ctx.tracking_method.as_bytes())
            .part("label", ctx.label_key.as_bytes())
            .part("installation", ctx.installation_id.as_bytes())
            .part("kube", ctx.kube_version.as_bytes())
            .part("apis", ctx.api_versions.join(",").as_bytes())
            .part("app", ctx.name.as_bytes())
            .part("kustomize", &ctx.kustomize.key());
        for (name, target) in refs {
            key = key.part(name, target);
        }
        let mut enabled: Vec<_> = ctx.enabled.iter().collect();
        enabled.sort();
        key = key.part("enabled", format!("{enabled:?}").as_bytes());
        // The cache keeps upstream's own message, so a hit is one decode.
        let bytes = self
            .manifests
            .get_or_render(key.build(), req.no_cache, || async {
                let rendered = async {
                    let snapshot = self.git.snapshot(repo, &sha).await?;
                    let root = snapshot.path();
                    self.render(&git.app, ctx, root, Some(&self.scans), &sha, repo.url())
                        .await
                };
                rendered
                    .await
                    .map(|g| encode(g).encode_to_vec())
                    .map_err(|e| crate::status::failure(&e))
            })
            .await
            .map_err(Error::Cached)?;
        let response = ManifestResponse::decode(bytes.as_slice())
            .map_err(|e| Error::internal("manifest cache entry", e))?;
        Ok(Generated {
            manifests: response.manifests,
            source_type: response.source_type,
            commands: response.commands,
            revision: response.revision,
        })
    }

    /// GenerateManifestWithFiles: unpacks the archive the caller streamed to
    /// [`Engine::archive`] in `work` (from [`Engine::workdir`]) and renders it, in a
    /// `--parallelismlimit` slot. Upstream reports the revision `streamed`.
    pub async fn generate_streamed(
        &self,
        app: &App,
        ctx: &Context,
        work: &Path,
        url: &str,
    ) -> Result<Generated, Error> {
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
                    let unpacked = repo_render::unpack(reader, &dir, max, repo_render::MAX_ENTRIES);
                    // Only the unpacked files count from here on.
                    let _ = std::fs::remove_file(&archive);
                    unpacked
                })
                .await?;
                self.render(app, ctx, &root, None, "streamed", url).await
            })
            .await
    }

    /// Where a streamed archive is received in `work`.
    pub fn archive(work: &Path) -> PathBuf {
        work.join("archive.tgz")
    }

    /// `--streamed-manifest-max-tar-size`.
    pub fn max_tar_bytes(&self) -> u64 {
        self.streamed_max.0
    }

    /// Renders `app` against files at `root`; `scans` remembers the symlink scan of an
    /// immutable root (a git snapshot).
    async fn render(
        &self,
        app: &App,
        ctx: &Context,
        root: &Path,
        scans: Option<&Scans>,
        revision: &str,
        url: &str,
    ) -> Result<Generated, Error> {
        let rendered = repo_render::render(&Input {
            root,
            source: &app.spec,
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
            values: Default::default(),
        })
        .await?;
        Ok(Generated {
            manifests: rendered.manifests,
            source_type: rendered.source_type.as_str().to_string(),
            commands: rendered.commands,
            revision: revision.to_string(),
        })
    }

    /// A private directory for streamed files, removed when dropped (also after a refusal).
    pub fn workdir(&self) -> Result<tempfile::TempDir, Error> {
        std::fs::create_dir_all(&self.tools.scratch)
            .and_then(|()| {
                tempfile::Builder::new()
                    .prefix("streamed-")
                    .tempdir_in(&self.tools.scratch)
            })
            .map_err(|e| Error::internal("cannot create a work directory", e))
    }

    /// The applications discovery finds in a revision (ListApps).
    pub async fn apps(
        &self,
        repo: &Repo,
        revision: &Revision,
        enabled: HashMap<String, bool>,
    ) -> Result<HashMap<String, String>, Error> {
        let root = self.root(repo, revision, "").await?;
        blocking(move || repo_render::discover(&root, &enabled)).await
    }

    /// Files matching a glob in a revision, with their contents (GetGitFiles).
    pub async fn files(
        &self,
        repo: &Repo,
        revision: &Revision,
        pattern: String,
        new_globbing: bool,
    ) -> Result<HashMap<String, Vec<u8>>, Error> {
        let root = self.root(repo, revision, "").await?;
        blocking(move || repo_render::files(&root, &pattern, new_globbing)).await
    }

    /// The directories of a revision (GetGitDirectories).
    pub async fn directories(
        &self,
        repo: &Repo,
        revision: &Revision,
    ) -> Result<Vec<String>, Error> {
        let root = self.root(repo, revision, "").await?;
        let hidden = self.include_hidden;
        blocking(move || repo_render::directories(&root, hidden)).await
    }

    async fn root(
        &self,
        repo: &Repo,
        revision: &Revision,
        tag_prefix: &str,
    ) -> Result<Root, Error> {
        let (_, snapshot) = self.checkout(repo, revision, tag_prefix).await?;
        Ok(Root::new(snapshot.path())?)
    }

    /// GetAppDetails: the app's type and what the UI shows of it.
    pub async fn details(
        &self,
        source: &Source,
        ctx: &Context,
    ) -> Result<(SourceType, Details), Error> {
        let Source::Git(git) = source;
        let (sha, snapshot) = self
            .checkout(&git.repo, &git.revision, &git.tag_prefix)
            .await
            .map_err(|e| missing_revision(e, &git.revision))?;
        let root = Root::new(snapshot.path())?;
        let (path, spec, enabled) = (
            git.app.path.clone(),
            git.app.spec.clone(),
            ctx.enabled.clone(),
        );
        let probe = root.clone();
        let kind = blocking(move || {
            let dir = probe.open(&path).map_err(missing_path)?;
            repo_render::detect(probe.path(), &dir, &spec, &enabled)
        })
        .await?;
        let details = match kind {
            SourceType::Helm => {
                let (path, spec) = (&git.app.path, &git.app.spec);
                Details::Helm(repo_render::chart(&root, path, spec, Default::default()).await?)
            }
            SourceType::Kustomize => {
                let rendered = self
                    .render(
                        &git.app,
                        ctx,
                        root.path(),
                        Some(&self.scans),
                        &sha,
                        git.repo.url(),
                    )
                    .await?;
                Details::Kustomize {
                    images: repo_render::images(&rendered.manifests),
                }
            }
            SourceType::Directory => Details::Directory,
            SourceType::Plugin => {
                return Err(Error::Unsupported(
                    "config management plugins are not supported".into(),
                ))
            }
        };
        Ok((kind, details))
    }

    /// UpdateRevisionForPaths: the revision `revision` resolves to, and whether any file under
    /// the manifest-generate-paths `paths` changed since `synced`.
    pub async fn changes(
        &self,
        source: &Source,
        synced: &str,
        paths: &[String],
    ) -> Result<(bool, String), Error> {
        let Source::Git(git) = source;
        let (repo, prefix) = (&git.repo, git.tag_prefix.as_str());
        let sha = self.resolve(repo, &git.revision, prefix).await?;
        // Nothing to compare against, or no paths to filter by: every commit counts.
        if synced.is_empty() || paths.is_empty() {
            return Ok((true, sha));
        }
        let synced = self.resolve(repo, &Revision::new(synced)?, prefix).await?;
        if synced == sha {
            return Ok((false, sha));
        }
        let changed = self.git.changed_paths(repo, &synced, &sha).await?;
        let changes = paths::touches(&changed, &git.app.path, paths)?;
        Ok((changes, sha))
    }

    /// GetHelmCharts: the charts a Helm repository's index lists.
    pub async fn charts(
        &self,
        url: &str,
        access: charts::Access<'_>,
    ) -> Result<Vec<charts::Chart>, Error> {
        Ok(charts::list(url, access).await?)
    }
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
