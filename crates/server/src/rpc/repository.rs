//! `repository.RepoServerService`: each handler parses its request (`request`), records the
//! audit fields, calls the engine and maps the answer back to upstream's wire shape.

use std::sync::Arc;

use repo_git::Refresh;
use repo_proto::metav1::Time;
use repo_proto::repository::repo_server_service_server::RepoServerService;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ChartDetails, CommitMetadata, HelmFileParameter, HelmParameter, OciMetadata, RevisionMetadata,
    RevisionReference, SourceIntegrityCheckResult, SourceIntegrityCheckResultItem,
};
use repo_source::{Invalid, Repo, Source};
use tonic::{Request, Response, Status, Streaming};

use crate::engine::{Details, Engine, Generated, Probe};
use crate::metrics::Caller;
use crate::rpc::{request, stream};
use crate::trace::Audit;

pub(crate) struct Repository {
    engine: Arc<Engine>,
}

impl Repository {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

fn invalid(err: Invalid) -> Status {
    Status::from(crate::engine::Error::Invalid(err))
}

/// Adds the repository (without credentials) and revision to the call's log line.
fn audit<T>(req: &Request<T>, repo: &str, revision: &str) {
    if let Some(audit) = req.extensions().get::<Audit>() {
        audit.record(repo.to_string(), revision);
    }
}

/// Audits a request about a source: its repository, revision and, for a Helm chart, the chart.
fn audit_source<T>(req: &Request<T>, source: &Source) {
    audit(req, source.repo().url(), source.revision().as_str());
    if let (Source::Helm(helm), Some(audit)) = (source, req.extensions().get::<Audit>()) {
        audit.chart(helm.chart.as_str());
    }
}

/// The repository of a request that names nothing else, audited.
fn repo_of<T>(
    req: &Request<T>,
    message: Option<&repo_proto::v1alpha1::Repository>,
    revision: &str,
) -> Result<Repo, Status> {
    let repo = request::repo(message, "").map_err(invalid)?;
    audit(req, repo.url(), revision);
    Ok(repo)
}

/// A related commit from the commit's trailers, as upstream's `RevisionReference`.
fn reference(r: repo_git::Reference) -> RevisionReference {
    RevisionReference {
        commit: Some(CommitMetadata {
            author: Some(r.author),
            date: Some(r.date),
            subject: Some(r.subject),
            body: Some(r.body),
            sha: Some(r.sha),
            repo_url: Some(r.repo_url),
        }),
    }
}

fn manifests(generated: Generated, namespace: String) -> ManifestResponse {
    ManifestResponse {
        manifests: generated.manifests,
        namespace,
        server: String::new(),
        revision: generated.revision,
        source_type: generated.source_type,
        commands: generated.commands,
        verify_result: generated.verified.verify_result,
        source_integrity_result: integrity_result(generated.verified.check),
    }
}

/// Upstream's `sourceIntegrityResult`: absent when no check was performed.
fn integrity_result(check: Option<repo_git::Check>) -> Option<SourceIntegrityCheckResult> {
    check.map(|c| SourceIntegrityCheckResult {
        checks: vec![SourceIntegrityCheckResultItem {
            name: Some(c.name.to_string()),
            problems: c.problems,
        }],
    })
}

#[tonic::async_trait]
impl RepoServerService for Repository {
    async fn generate_manifest(
        &self,
        req: Request<ManifestRequest>,
    ) -> Result<Response<ManifestResponse>, Status> {
        let r = req.get_ref();
        let generate = request::generate(r).map_err(|e| {
            // A refused request still names its repository in the log line.
            let url = r
                .repo
                .as_ref()
                .and_then(|repo| repo.repo.as_deref())
                .or_else(|| r.application_source.as_ref().map(|s| s.repo_url()))
                .unwrap_or_default();
            audit(&req, &repo_source::display(url), &r.revision);
            invalid(e)
        })?;
        audit_source(&req, &generate.source);
        let generated = Caller::of(&req)
            .run(self.engine.generate(&generate))
            .await?;
        Ok(Response::new(manifests(
            generated,
            generate.context.namespace,
        )))
    }

    async fn generate_manifest_with_files(
        &self,
        req: Request<Streaming<ManifestRequestWithFiles>>,
    ) -> Result<Response<ManifestResponse>, Status> {
        let audit_slot = req.extensions().get::<Audit>().cloned();
        let caller = Caller::of(&req);
        let work = self.engine.workdir()?;
        let archive = Engine::archive(work.path());
        let max = self.engine.max_tar_bytes();
        let (r, checksum) = stream::receive(req.into_inner(), &archive, max).await?;
        let source = r
            .application_source
            .as_ref()
            .ok_or_else(|| invalid(Invalid::Missing("applicationSource")))?;
        if let Some(slot) = audit_slot {
            slot.record("(streamed files)".to_string(), &checksum);
        }
        let app = request::app(source).map_err(invalid)?;
        let context = request::context(&r);
        let url = repo_source::display(source.repo_url());
        let streamed = self
            .engine
            .generate_streamed(&app, &context, work.path(), &url);
        let generated = caller.run(streamed).await?;
        Ok(Response::new(manifests(generated, context.namespace)))
    }

    async fn test_repository(
        &self,
        req: Request<TestRepositoryRequest>,
    ) -> Result<Response<TestRepositoryResponse>, Status> {
        let probe = request::probe(req.get_ref().repo.as_ref()).map_err(invalid)?;
        let url = match &probe {
            Probe::Git(repo) | Probe::Index(repo) | Probe::Oci { repo, .. } => repo.url(),
        };
        audit(&req, url, "");
        self.engine.test(&probe).await?;
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
        let source =
            request::resolution(r.repo.as_ref(), source, &r.ambiguous_revision).map_err(invalid)?;
        audit_source(&req, &source);
        // Upstream resolves Helm and OCI revisions without its caches.
        let refresh = match source {
            Source::Git(_) => request::refresh(false, r.no_revision_cache),
            _ => Refresh::Fresh,
        };
        let revision = self.engine.revision(&source, refresh).await?;
        let ambiguous = match source {
            Source::Git(_) if r.ambiguous_revision == revision => revision.clone(),
            _ => format!("{} ({revision})", r.ambiguous_revision),
        };
        Ok(Response::new(ResolveRevisionResponse {
            revision,
            ambiguous_revision: ambiguous,
        }))
    }

    async fn list_refs(&self, req: Request<ListRefsRequest>) -> Result<Response<Refs>, Status> {
        let repo = repo_of(&req, req.get_ref().repo.as_ref(), "")?;
        let refs = self.engine.refs(&repo).await?;
        Ok(Response::new(Refs {
            branches: refs.branches.iter().map(|(n, _)| n.clone()).collect(),
            tags: refs.tags.iter().map(|(n, _)| n.clone()).collect(),
        }))
    }

    async fn list_oci_tags(&self, req: Request<ListRefsRequest>) -> Result<Response<Refs>, Status> {
        let (repo, plain_http) = request::oci(req.get_ref().repo.as_ref()).map_err(invalid)?;
        audit(&req, repo.url(), "");
        let tags = self.engine.oci_tags(&repo, plain_http).await?;
        Ok(Response::new(Refs {
            branches: vec![],
            tags,
        }))
    }

    async fn list_apps(&self, req: Request<ListAppsRequest>) -> Result<Response<AppList>, Status> {
        let r = req.get_ref();
        let repo = repo_of(&req, r.repo.as_ref(), &r.revision)?;
        let revision = request::revision(&r.revision, None).map_err(invalid)?;
        let apps = self
            .engine
            .apps(&repo, &revision, r.enabled_source_types.clone())
            .await?;
        Ok(Response::new(AppList { apps }))
    }

    async fn list_plugins(&self, _: Request<()>) -> Result<Response<PluginList>, Status> {
        let names = self.engine.plugin_names().await?;
        Ok(Response::new(PluginList {
            items: names.into_iter().map(|name| PluginInfo { name }).collect(),
        }))
    }

    async fn get_app_details(
        &self,
        req: Request<RepoServerAppDetailsQuery>,
    ) -> Result<Response<RepoAppDetailsResponse>, Status> {
        let (source, context) = request::details(req.get_ref()).map_err(invalid)?;
        audit_source(&req, &source);
        let q = req.get_ref();
        let refresh = request::refresh(q.no_cache, q.no_revision_cache);
        let details = self.engine.details(&source, &context, refresh);
        let (kind, details) = Caller::of(&req).run(details).await?;
        let mut response = RepoAppDetailsResponse {
            r#type: kind.as_str().to_string(),
            ..Default::default()
        };
        match details {
            Details::Helm(chart) => {
                response.helm = Some(HelmAppSpec {
                    name: chart.name,
                    value_files: chart.value_files,
                    parameters: chart
                        .parameters
                        .into_iter()
                        .map(|(name, value)| HelmParameter {
                            name: Some(name),
                            value: Some(value),
                            force_string: Some(false),
                        })
                        .collect(),
                    values: chart.values,
                    file_parameters: chart
                        .file_parameters
                        .into_iter()
                        .map(|(name, path)| HelmFileParameter {
                            name: Some(name),
                            path: Some(path),
                        })
                        .collect(),
                })
            }
            Details::Kustomize { images } => response.kustomize = Some(KustomizeAppSpec { images }),
            Details::Directory => response.directory = Some(DirectoryAppSpec {}),
            Details::Plugin(parameters_announcement) => {
                response.plugin = Some(PluginAppSpec {
                    parameters_announcement,
                })
            }
        }
        Ok(Response::new(response))
    }

    async fn get_revision_metadata(
        &self,
        req: Request<RepoServerRevisionMetadataRequest>,
    ) -> Result<Response<RevisionMetadata>, Status> {
        let r = req.get_ref();
        let repo = repo_of(&req, r.repo.as_ref(), &r.revision)?;
        let revision = request::revision(&r.revision, None).map_err(invalid)?;
        let policies = request::policies(r.source_integrity.as_ref());
        let (commit, verified) = (self.engine)
            .metadata(&repo, &revision, &policies, r.check_signature)
            .await?;
        Ok(Response::new(RevisionMetadata {
            author: Some(commit.author),
            date: Some(Time {
                seconds: Some(commit.date),
                nanos: Some(0),
            }),
            tags: commit.tags,
            message: Some(commit.message),
            signature_info: Some(verified.signature_info),
            references: commit.references.into_iter().map(reference).collect(),
            source_integrity_result: integrity_result(verified.check),
        }))
    }

    async fn get_oci_metadata(
        &self,
        req: Request<RepoServerRevisionChartDetailsRequest>,
    ) -> Result<Response<OciMetadata>, Status> {
        let r = req.get_ref();
        let (repo, plain_http) = request::oci(r.repo.as_ref()).map_err(invalid)?;
        audit(&req, repo.url(), &r.revision);
        let m = self
            .engine
            .oci_metadata(&repo, plain_http, &r.revision)
            .await?;
        Ok(Response::new(OciMetadata {
            created_at: Some(m.created),
            authors: Some(m.authors),
            image_url: None,
            docs_url: Some(m.documentation),
            source_url: Some(m.source),
            version: Some(m.version),
            description: Some(m.description),
        }))
    }

    async fn get_revision_chart_details(
        &self,
        req: Request<RepoServerRevisionChartDetailsRequest>,
    ) -> Result<Response<ChartDetails>, Status> {
        let r = req.get_ref();
        let source = request::chart(r.repo.as_ref(), &r.name, &r.revision).map_err(invalid)?;
        audit_source(&req, &source);
        let summary = self.engine.chart_summary(&source).await?;
        Ok(Response::new(ChartDetails {
            description: Some(summary.description),
            home: Some(summary.home),
            maintainers: summary.maintainers,
        }))
    }

    async fn get_helm_charts(
        &self,
        req: Request<HelmChartsRequest>,
    ) -> Result<Response<HelmChartsResponse>, Status> {
        let m = req.get_ref().repo.as_ref();
        if m.is_none_or(|m| m.repo().is_empty()) {
            return Err(invalid(Invalid::Missing(
                "the Helm repository URL (repo.repo)",
            )));
        }
        let repo = request::index(m).map_err(invalid)?;
        audit(&req, repo.url(), "");
        let items = self.engine.charts(&repo).await?;
        Ok(Response::new(HelmChartsResponse {
            items: items
                .into_iter()
                .map(|(name, versions)| HelmChart { name, versions })
                .collect(),
        }))
    }

    async fn get_git_files(
        &self,
        req: Request<GitFilesRequest>,
    ) -> Result<Response<GitFilesResponse>, Status> {
        let r = req.get_ref();
        let repo = repo_of(&req, r.repo.as_ref(), &r.revision)?;
        let revision = request::revision(&r.revision, None).map_err(invalid)?;
        let policies = request::policies(r.source_integrity.as_ref());
        let pattern = repo_source::Arg::new("path", r.path.clone()).map_err(invalid)?;
        let map = self
            .engine
            .files(
                &repo,
                &revision,
                pattern.into_string(),
                (r.new_git_file_globbing_enabled, r.submodule_enabled),
                request::refresh(false, r.no_revision_cache),
                &policies,
            )
            .await?;
        Ok(Response::new(GitFilesResponse { map }))
    }

    async fn get_git_directories(
        &self,
        req: Request<GitDirectoriesRequest>,
    ) -> Result<Response<GitDirectoriesResponse>, Status> {
        let r = req.get_ref();
        let repo = repo_of(&req, r.repo.as_ref(), &r.revision)?;
        let revision = request::revision(&r.revision, None).map_err(invalid)?;
        let refresh = request::refresh(false, r.no_revision_cache);
        let policies = request::policies(r.source_integrity.as_ref());
        let paths = (self.engine)
            .directories(&repo, &revision, refresh, r.submodule_enabled, &policies)
            .await?;
        Ok(Response::new(GitDirectoriesResponse { paths }))
    }

    async fn update_revision_for_paths(
        &self,
        req: Request<UpdateRevisionForPathsRequest>,
    ) -> Result<Response<UpdateRevisionForPathsResponse>, Status> {
        let r = req.get_ref();
        let url = r.repo.as_ref().map(|m| m.repo()).unwrap_or_default();
        audit(&req, &repo_source::display(url), &r.revision);
        let changes = request::changes(r).map_err(invalid)?;
        let changed = self.engine.changes(&changes).await?;
        Ok(Response::new(UpdateRevisionForPathsResponse {
            changes: changed.changes,
            revision: changed.revision,
        }))
    }
}
