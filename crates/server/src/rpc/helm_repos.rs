//! The request's `repos` and `helmRepoCreds`: the Helm repositories chart dependencies may
//! come from, with their credentials, matched as upstream's `getHelmRepos`.

use repo_proto::repository::ManifestRequest;

/// Not parsed yet (in progress this session): dependencies resolve without credentials.
pub(super) fn parse(_req: &ManifestRequest) -> Vec<repo_render::HelmRepo> {
    Vec::new()
}
