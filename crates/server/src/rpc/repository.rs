//! `repository.RepoServerService`. Every RPC is declared with upstream's wire shape; those not
//! implemented yet answer UNIMPLEMENTED naming the RPC.

use repo_proto::repository::repo_server_service_server::RepoServerService;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{ChartDetails, OciMetadata, RevisionMetadata};
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug, Default)]
pub struct Repository;

fn unimplemented<T>(rpc: &str) -> Result<Response<T>, Status> {
    Err(Status::unimplemented(format!(
        "repository.RepoServerService/{rpc} is not implemented by this repo-server yet"
    )))
}

#[tonic::async_trait]
impl RepoServerService for Repository {
    async fn generate_manifest(
        &self,
        _: Request<ManifestRequest>,
    ) -> Result<Response<ManifestResponse>, Status> {
        unimplemented("GenerateManifest")
    }

    async fn generate_manifest_with_files(
        &self,
        _: Request<Streaming<ManifestRequestWithFiles>>,
    ) -> Result<Response<ManifestResponse>, Status> {
        unimplemented("GenerateManifestWithFiles")
    }

    async fn test_repository(
        &self,
        _: Request<TestRepositoryRequest>,
    ) -> Result<Response<TestRepositoryResponse>, Status> {
        unimplemented("TestRepository")
    }

    async fn resolve_revision(
        &self,
        _: Request<ResolveRevisionRequest>,
    ) -> Result<Response<ResolveRevisionResponse>, Status> {
        unimplemented("ResolveRevision")
    }

    async fn list_refs(&self, _: Request<ListRefsRequest>) -> Result<Response<Refs>, Status> {
        unimplemented("ListRefs")
    }

    async fn list_oci_tags(&self, _: Request<ListRefsRequest>) -> Result<Response<Refs>, Status> {
        unimplemented("ListOCITags")
    }

    async fn list_apps(&self, _: Request<ListAppsRequest>) -> Result<Response<AppList>, Status> {
        unimplemented("ListApps")
    }

    async fn list_plugins(&self, _: Request<()>) -> Result<Response<PluginList>, Status> {
        unimplemented("ListPlugins")
    }

    async fn get_app_details(
        &self,
        _: Request<RepoServerAppDetailsQuery>,
    ) -> Result<Response<RepoAppDetailsResponse>, Status> {
        unimplemented("GetAppDetails")
    }

    async fn get_revision_metadata(
        &self,
        _: Request<RepoServerRevisionMetadataRequest>,
    ) -> Result<Response<RevisionMetadata>, Status> {
        unimplemented("GetRevisionMetadata")
    }

    async fn get_oci_metadata(
        &self,
        _: Request<RepoServerRevisionChartDetailsRequest>,
    ) -> Result<Response<OciMetadata>, Status> {
        unimplemented("GetOCIMetadata")
    }

    async fn get_revision_chart_details(
        &self,
        _: Request<RepoServerRevisionChartDetailsRequest>,
    ) -> Result<Response<ChartDetails>, Status> {
        unimplemented("GetRevisionChartDetails")
    }

    async fn get_helm_charts(
        &self,
        _: Request<HelmChartsRequest>,
    ) -> Result<Response<HelmChartsResponse>, Status> {
        unimplemented("GetHelmCharts")
    }

    async fn get_git_files(
        &self,
        _: Request<GitFilesRequest>,
    ) -> Result<Response<GitFilesResponse>, Status> {
        unimplemented("GetGitFiles")
    }

    async fn get_git_directories(
        &self,
        _: Request<GitDirectoriesRequest>,
    ) -> Result<Response<GitDirectoriesResponse>, Status> {
        unimplemented("GetGitDirectories")
    }

    async fn update_revision_for_paths(
        &self,
        _: Request<UpdateRevisionForPathsRequest>,
    ) -> Result<Response<UpdateRevisionForPathsResponse>, Status> {
        unimplemented("UpdateRevisionForPaths")
    }
}
