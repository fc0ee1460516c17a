//! The repository engine behind the RPCs: git cache, renderer and manifest cache together.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use prost::Message;
use repo_cache::{KeyBuilder, Manifests, Memory, Settings};
use repo_git::{Cache, Repo};
use repo_proto::repository::{ManifestRequest, ManifestResponse};
use repo_proto::v1alpha1::ApplicationSource;
use repo_render::{Input, Scans, Tools, Tracking};
use tonic::Status;

use crate::config;
use crate::metrics::Metrics;
use crate::rpc::{request, status};

pub struct Engine {
    pub git: Cache,
    manifests: Manifests<Memory>,
    pub tools: Arc<Tools>,
    /// Snapshots already scanned for escaping symlinks (they never change).
    scans: Scans,
}

/// Where the files of a render come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// A git snapshot: immutable, its symlink scan is remembered.
    Snapshot,
    /// Files streamed by the client for this request only.
    Streamed,
}

impl Engine {
    pub fn new(settings: &config::Engine, metrics: Arc<Metrics>) -> Result<Self, repo_git::Error> {
        let mut git = repo_git::Settings::new(settings.repo_cache_dir.join("git"));
        git.observer = Some(repo_git::Observer::new(move |request| metrics.git(request)));
        git.budget_bytes = settings.repo_cache_bytes;
        git.allow_file = settings.allow_file;
        let mut tools = Tools::discover();
        tools.timeout = settings.exec_timeout;
        tools.scratch = settings.repo_cache_dir.join("scratch");
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
        })
    }

    /// Resolves `revision` of `repo` to a commit.
    pub async fn resolve(
        &self,
        repo: &Repo,
        revision: &str,
        tag_prefix: &str,
    ) -> Result<String, Status> {
        request::argument("revision", revision)?;
        self.git
            .resolve(repo, revision, tag_prefix)
            .await
            .map(|r| r.sha)
            .map_err(status::git)
    }

    /// Resolves `revision` and returns the commit with its shared snapshot.
    pub async fn checkout(
        &self,
        repo: &Repo,
        revision: &str,
        tag_prefix: &str,
    ) -> Result<(String, Arc<repo_git::Snapshot>), Status> {
        self.git.prefetch(repo);
        let sha = self.resolve(repo, revision, tag_prefix).await?;
        let snapshot = self.git.snapshot(repo, &sha).await.map_err(status::git)?;
        Ok((sha, snapshot))
    }

    /// GenerateManifest: from the cache when it holds this exact input, else rendered once
    /// however many callers ask at the same time.
    pub async fn generate(&self, req: &ManifestRequest) -> Result<ManifestResponse, Status> {
        let source = request::source(req.application_source.as_ref(), "applicationSource")?;
        let repo = request::repo(req.repo.as_ref(), source.repo_url())?;
        let revision = request::revision(&req.revision, source)?;
        self.git.prefetch(&repo);
        let sha = self.resolve(&repo, revision, source.tag_prefix()).await?;
        let mut refs: Vec<_> = req.ref_sources.iter().collect();
        refs.sort_by(|a, b| a.0.cmp(b.0));
        let mut key = KeyBuilder::new()
            .part("repo", repo_git::normalize(&repo.url).as_bytes())
            .part("commit", sha.as_bytes())
            .part("source", &source.encode_to_vec())
            .part("namespace", req.namespace.as_bytes())
            .part("tracking", req.tracking_method.as_bytes())
            .part("label", req.app_label_key.as_bytes())
            .part("installation", req.installation_id.as_bytes())
            .part("kube", req.kube_version.as_bytes())
            .part("apis", req.api_versions.join(",").as_bytes())
            .part("app", req.app_name.as_bytes());
        for (name, target) in refs {
            key = key.part(name, &target.encode_to_vec());
        }
        let mut enabled: Vec<_> = req.enabled_source_types.iter().collect();
        enabled.sort();
        key = key.part("enabled", format!("{enabled:?}").as_bytes());
        let bytes = self
            .manifests
            .get_or_render(key.build(), req.no_cache, || async {
                self.render(req, source, &repo, &sha)
                    .await
                    .map(|r| r.encode_to_vec())
                    .map_err(|s| status::failure(&s))
            })
            .await
            .map_err(status::from_failure)?;
        ManifestResponse::decode(bytes.as_slice())
            .map_err(|e| Status::internal(format!("manifest cache entry: {e}")))
    }

    async fn render(
        &self,
        req: &ManifestRequest,
        source: &ApplicationSource,
        repo: &Repo,
        sha: &str,
    ) -> Result<ManifestResponse, Status> {
        let snapshot = self.git.snapshot(repo, sha).await.map_err(status::git)?;
        self.render_in(
            req,
            source,
            snapshot.path(),
            Files::Snapshot,
            sha,
            &repo_git::display(&repo.url),
        )
        .await
    }

    /// Renders a request against files at `root` (a snapshot, or streamed local files).
    pub async fn render_in(
        &self,
        req: &ManifestRequest,
        source: &ApplicationSource,
        root: &Path,
        files: Files,
        revision: &str,
        url: &str,
    ) -> Result<ManifestResponse, Status> {
        let rendered = repo_render::render(&Input {
            root,
            source,
            app_name: &req.app_name,
            namespace: &req.namespace,
            project: &req.project_name,
            kube_version: &req.kube_version,
            api_versions: &req.api_versions,
            tracking: Tracking {
                method: &req.tracking_method,
                label_key: &req.app_label_key,
                installation_id: &req.installation_id,
            },
            enabled: &req.enabled_source_types,
            revision,
            repo_url: url,
            tools: &self.tools,
            scans: (files == Files::Snapshot).then_some(&self.scans),
        })
        .await
        .map_err(status::render)?;
        Ok(ManifestResponse {
            manifests: rendered.manifests,
            namespace: req.namespace.clone(),
            server: String::new(),
            revision: revision.to_string(),
            source_type: rendered.source_type.as_str().to_string(),
            commands: rendered.commands,
            ..Default::default()
        })
    }

    /// A private directory for streamed files, removed when dropped.
    pub fn workdir(&self) -> Result<tempfile::TempDir, Status> {
        std::fs::create_dir_all(&self.tools.scratch)
            .and_then(|()| {
                tempfile::Builder::new()
                    .prefix("streamed-")
                    .tempdir_in(&self.tools.scratch)
            })
            .map_err(|e| Status::internal(format!("cannot create a work directory: {e}")))
    }

    /// Renders with a snapshot the caller already has (GetAppDetails).
    pub async fn render_at(
        &self,
        root: &Path,
        source: &ApplicationSource,
        app_name: &str,
        enabled: &HashMap<String, bool>,
        sha: &str,
        url: &str,
    ) -> Result<repo_render::Rendered, Status> {
        repo_render::render(&Input {
            root,
            source,
            app_name,
            namespace: "",
            project: "",
            kube_version: "",
            api_versions: &[],
            tracking: Tracking::default(),
            enabled,
            revision: sha,
            repo_url: url,
            tools: &self.tools,
            scans: Some(&self.scans),
        })
        .await
        .map_err(status::render)
    }
}

/// Directories of `root` (relative, `.` for the root), excluding `.git` and hidden ones.
pub fn directories(root: &Path) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Symlinked directories are not followed: they may lead out of the snapshot.
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if let Ok(rel) = path.strip_prefix(root) {
                out.insert(rel.to_string_lossy().into_owned());
            }
            stack.push(path);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_directories_without_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a/b", ".git/objects", "c"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        assert_eq!(directories(dir.path()), ["a", "a/b", "c"]);
    }
}
