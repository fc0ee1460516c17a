//! What a request asks to render: where the files come from, and the app inside them.

use repo_proto::v1alpha1::ApplicationSource;

use crate::{Repo, RepoPath, Revision};

/// Where an application's files come from. Each kind has its own fetcher and content root;
/// everything after the fetch (detection, tools, tracking) is shared.
#[derive(Clone, Debug)]
pub enum Source {
    /// A git repository at a revision.
    Git(Git),
}

/// A git source: repository, revision, and the app inside it.
#[derive(Clone, Debug)]
pub struct Git {
    pub repo: Repo,
    pub revision: Revision,
    /// Removed from tag names before a semver constraint is matched (`source.tagPrefix`).
    pub tag_prefix: String,
    pub app: App,
}

/// The application inside a content root.
#[derive(Clone, Debug)]
pub struct App {
    /// Directory of the app.
    pub path: RepoPath,
    /// The tool settings (helm, kustomize, directory, plugin) as the wire carries them; the
    /// render side checks each value as it builds a command line ([`crate::Arg`]).
    pub spec: ApplicationSource,
}

impl Source {
    /// The repository the files come from.
    pub fn repo(&self) -> &Repo {
        match self {
            Self::Git(git) => &git.repo,
        }
    }

    pub fn app(&self) -> &App {
        match self {
            Self::Git(git) => &git.app,
        }
    }
}
