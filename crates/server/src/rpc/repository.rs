//! `repository.RepoServerService`, upstream's wire shape.

use std::sync::Arc;

use repo_proto::metav1::Time;
use repo_proto::repository::repo_server_service_server::RepoServerService;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{ChartDetails, OciMetadata, RevisionMetadata};
use tonic::{Request, Response, Status, Streaming};

use crate::rpc::engine::{directories, Engine, Files};
use crate::rpc::{apps, charts, paths, request, status, stream};
use crate::trace::Audit;

pub struct Repository {
    engine: Arc<Engine>,
}

impl Repository {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

fn unimplemented<T>(rpc: &str, why: &str) -> Result<Response<T>, Status> {
    Err(Status::unimplemented(format!(
        "repository.RepoServerService/{rpc} is not implemented by this repo-server: {why}"
    )))
}

/// Adds the repository (without credentials) and revision to the call's log line.
fn audit<T>(req: &Request<T>, repo: &str, revision: &str) {
    if let Some(audit) = req.extensions().get::<Audit>() {
        audit.record(repo_git::display(repo), revision);
    }
}

#[tonic::async_trait]
impl RepoServerService for Repository {
    async fn generate_manifest(
        &self,
        req: Request<ManifestRequest>,
    ) -> Result<Response<ManifestResponse>, Status> {
        let r = req.get_ref();
        let url = r
            .repo
            .as_ref()
            .and_then(|repo| repo.repo.clone())
            .or_else(|| {
                r.application_source
                    .as_ref()
                    .map(|s| s.repo_url().to_string())
            })
            .unwrap_or_default();
        audit(&req, &url, &r.revision);
        self.engine.generate(req.get_ref()).await.map(Response::new)
    }

    async fn generate_manifest_with_files(
        &self,
        req: Request<Streaming<ManifestRequestWithFiles>>,
    ) -> Result<Response<ManifestResponse>, Status> {
        let audit_slot = req.extensions().get::<Audit>().cloned();
        let work = self.engine.workdir()?;
        let (request, checksum) = stream::receive(req.into_inner(), work.path()).await?;
        let source = request::source(request.application_source.as_ref(), "applicationSource")?;
        if let Some(slot) = audit_slot {
            slot.record("(streamed files)".to_string(), &checksum);
        }
        // Upstream reports streamed files with the revision "streamed".
        let response = self
            .engine
            .render_in(
                &request,
                source,
                work.path(),
                Files::Streamed,
                "streamed",
                &repo_git::display(source.repo_url()),
            )
            .await?;
        Ok(Response::new(response))
    }

    async fn test_repository(
        &self,
        req: Request<TestRepositoryRequest>,
    ) -> Result<Response<TestRepositoryResponse>, Status> {
        let repo = request::repo(req.get_ref().repo.as_ref(), "")?;
        audit(&req, &repo.url, "");
        self.engine.git.test(&repo).await.map_err(status::git)?;
        Ok(Response::new(TestRepositoryResponse {
            verified_repository: true,
        }))
    }

    async fn resolve_revision(
        &self,
        req: Request<ResolveRevisionRequest>,
    ) -> Result<Response<ResolveRevisionResponse>, Status> {
        let r = req.get_ref();
        let spec = r.app.as_ref().and_then(|a| a.spec.as_ref());
        let source = spec.and_then(|s| {
            usize::try_from(r.source_index)
                .ok()
                .and_then(|i| s.sources.get(i))
                .filter(|_| !s.sources.is_empty())
                .or(s.source.as_ref())
        });
        let url = source.map(|s| s.repo_url().to_string()).unwrap_or_default();
        let repo = request::repo(r.repo.as_ref(), &url)?;
        audit(&req, &repo.url, &r.ambiguous_revision);
        let tag_prefix = source.map(|s| s.tag_prefix()).unwrap_or_default();
        let sha = self
            .engine
            .resolve(&repo, &r.ambiguous_revision, tag_prefix)
            .await?;
        let ambiguous = if r.ambiguous_revision == sha {
            sha.clone()
        } else {
            format!("{} ({sha})", r.ambiguous_revision)
        };
        Ok(Response::new(ResolveRevisionResponse {
            revision: sha,
            ambiguous_revision: ambiguous,
        }))
    }

    async fn list_refs(&self, req: Request<ListRefsRequest>) -> Result<Response<Refs>, Status> {
        let repo = request::repo(req.get_ref().repo.as_ref(), "")?;
        audit(&req, &repo.url, "");
        let refs = self.engine.git.refs(&repo).await.map_err(status::git)?;
        Ok(Response::new(Refs {
            branches: refs.branches.iter().map(|(n, _)| n.clone()).collect(),
            tags: refs.tags.iter().map(|(n, _)| n.clone()).collect(),
        }))
    }

    async fn list_oci_tags(&self, _: Request<ListRefsRequest>) -> Result<Response<Refs>, Status> {
        unimplemented("ListOCITags", "OCI sources are not supported yet")
    }

    async fn list_apps(&self, req: Request<ListAppsRequest>) -> Result<Response<AppList>, Status> {
        let r = req.get_ref();
        let repo = request::repo(r.repo.as_ref(), "")?;
        audit(&req, &repo.url, &r.revision);
        let revision = if r.revision.is_empty() {
            "HEAD"
        } else {
            &r.revision
        };
        let (_, snapshot) = self.engine.checkout(&repo, revision, "").await?;
        Ok(Response::new(AppList {
            apps: apps::discover(snapshot.path(), &r.enabled_source_types),
        }))
    }

    async fn list_plugins(&self, _: Request<()>) -> Result<Response<PluginList>, Status> {
        // No config management plugin sidecars are supported, so there are none to list.
        Ok(Response::new(PluginList { items: vec![] }))
    }

    async fn get_app_details(
        &self,
        req: Request<RepoServerAppDetailsQuery>,
    ) -> Result<Response<RepoAppDetailsResponse>, Status> {
        let r = req.get_ref();
        let source = request::source(r.source.as_ref(), "source")?;
        let repo = request::repo(r.repo.as_ref(), source.repo_url())?;
        let revision = request::revision("", source)?;
        audit(&req, &repo.url, revision);
        let (sha, snapshot) = self
            .engine
            .checkout(&repo, revision, source.tag_prefix())
            .await?;
        apps::details(
            &self.engine,
            snapshot.path(),
            source,
            r,
            &sha,
            &repo_git::display(&repo.url),
        )
        .await
        .map(Response::new)
    }

    async fn get_revision_metadata(
        &self,
        req: Request<RepoServerRevisionMetadataRequest>,
    ) -> Result<Response<RevisionMetadata>, Status> {
        let r = req.get_ref();
        let repo = request::repo(r.repo.as_ref(), "")?;
        audit(&req, &repo.url, &r.revision);
        let sha = self.engine.resolve(&repo, &r.revision, "").await?;
        let commit = self
            .engine
            .git
            .commit(&repo, &sha)
            .await
            .map_err(status::git)?;
        Ok(Response::new(RevisionMetadata {
            author: Some(commit.author),
            date: Some(Time {
                seconds: Some(commit.date),
                nanos: Some(0),
            }),
            tags: commit.tags,
            message: Some(commit.message),
            signature_info: Some(String::new()),
            ..Default::default()
        }))
    }

    async fn get_oci_metadata(
        &self,
        _: Request<RepoServerRevisionChartDetailsRequest>,
    ) -> Result<Response<OciMetadata>, Status> {
        unimplemented("GetOCIMetadata", "OCI sources are not supported yet")
    }

    async fn get_revision_chart_details(
        &self,
        _: Request<RepoServerRevisionChartDetailsRequest>,
    ) -> Result<Response<ChartDetails>, Status> {
        unimplemented(
            "GetRevisionChartDetails",
            "Helm repository sources are not supported yet",
        )
    }

    async fn get_helm_charts(
        &self,
        req: Request<HelmChartsRequest>,
    ) -> Result<Response<HelmChartsResponse>, Status> {
        let m = req.get_ref().repo.clone().unwrap_or_default();
        let url = m.repo.clone().unwrap_or_default();
        if url.is_empty() {
            return Err(Status::invalid_argument(
                "the request names no Helm repository URL (repo.repo)",
            ));
        }
        audit(&req, &url, "");
        let access = charts::Access {
            username: m.username.as_deref().unwrap_or_default(),
            password: m.password.as_deref().unwrap_or_default(),
            insecure: m.insecure.unwrap_or(false),
        };
        charts::list(&url, access).await.map(Response::new)
    }

    async fn get_git_files(
        &self,
        req: Request<GitFilesRequest>,
    ) -> Result<Response<GitFilesResponse>, Status> {
        let r = req.get_ref();
        let repo = request::repo(r.repo.as_ref(), "")?;
        audit(&req, &repo.url, &r.revision);
        request::argument("path", &r.path)?;
        let (_, snapshot) = self.engine.checkout(&repo, &r.revision, "").await?;
        let map = paths::files(snapshot.path(), &r.path, r.new_git_file_globbing_enabled)?;
        Ok(Response::new(GitFilesResponse { map }))
    }

    async fn get_git_directories(
        &self,
        req: Request<GitDirectoriesRequest>,
    ) -> Result<Response<GitDirectoriesResponse>, Status> {
        let r = req.get_ref();
        let repo = request::repo(r.repo.as_ref(), "")?;
        audit(&req, &repo.url, &r.revision);
        let (_, snapshot) = self.engine.checkout(&repo, &r.revision, "").await?;
        Ok(Response::new(GitDirectoriesResponse {
            paths: directories(snapshot.path()),
        }))
    }

    async fn update_revision_for_paths(
        &self,
        req: Request<UpdateRevisionForPathsRequest>,
    ) -> Result<Response<UpdateRevisionForPathsResponse>, Status> {
        let r = req.get_ref();
        let source = request::source(r.application_source.as_ref(), "applicationSource")?;
        let repo = request::repo(r.repo.as_ref(), source.repo_url())?;
        audit(&req, &repo.url, &r.revision);
        let revision = request::revision(&r.revision, source)?;
        let sha = self
            .engine
            .resolve(&repo, revision, source.tag_prefix())
            .await?;
        let synced = r.synced_revision.as_str();
        // Nothing to compare against, or no paths to filter by: every commit counts.
        if synced.is_empty() || r.paths.is_empty() {
            return Ok(Response::new(UpdateRevisionForPathsResponse {
                changes: true,
                revision: sha,
            }));
        }
        let synced = self
            .engine
            .resolve(&repo, synced, source.tag_prefix())
            .await?;
        if synced == sha {
            return Ok(Response::new(UpdateRevisionForPathsResponse {
                changes: false,
                revision: sha,
            }));
        }
        let changed = self
            .engine
            .git
            .changed_paths(&repo, &synced, &sha)
            .await
            .map_err(status::git)?;
        let changes = paths::touches(&changed, source.path(), &r.paths)?;
        Ok(Response::new(UpdateRevisionForPathsResponse {
            changes,
            revision: sha,
        }))
    }
}
