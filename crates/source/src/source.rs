//! What a request asks to render: where the files come from, and the app inside them.

use repo_proto::v1alpha1::ApplicationSource;

use crate::{Repo, RepoPath, Revision};

/// Where an application's files come from. Each kind has its own fetcher and content root;
/// everything after the fetch (detection, tools, tracking) is shared.
#[derive(Clone, Debug)]
pub enum Source {
    /// A git repository at a revision.
    Git(Git),
    /// A Helm chart (`source.chart`) from a Helm repository or an OCI registry.
    Helm(Helm),
    /// An OCI artifact (`repoURL: oci://…`, Argo CD 3.1+).
    Oci(Oci),
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

/// A chart from a Helm repository (`index.yaml` over http(s)) or an OCI registry.
#[derive(Clone, Debug)]
pub struct Helm {
    /// The repository; for [`Registry::Oci`] its URL is `oci://host[:port]/path`.
    pub repo: Repo,
    /// The chart's name in the repository (`source.chart`); may hold `/` in a registry.
    pub chart: RepoPath,
    /// An exact version or a semver constraint (`targetRevision` or the request's revision).
    pub version: Revision,
    pub registry: Registry,
    /// `helm.passCredentials`: send the repository's credentials to a chart URL on another host.
    pub pass_credentials: bool,
    /// `path` is the chart's directory in the unpacked archive.
    pub app: App,
}

/// Where a chart is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    /// A Helm repository: `index.yaml` and chart archives over http(s).
    Index,
    /// An OCI registry (`enableOCI`, or a URL without scheme); `plain_http` is
    /// `insecureOCIForceHttp`.
    Oci { plain_http: bool },
}

/// An OCI artifact source.
#[derive(Clone, Debug)]
pub struct Oci {
    /// `oci://host[:port]/path`.
    pub repo: Repo,
    /// A tag, a semver constraint over the tags, or a digest (`sha256:…`).
    pub revision: Revision,
    /// `insecureOCIForceHttp`.
    pub plain_http: bool,
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
            Self::Helm(helm) => &helm.repo,
            Self::Oci(oci) => &oci.repo,
        }
    }

    pub fn app(&self) -> &App {
        match self {
            Self::Git(git) => &git.app,
            Self::Helm(helm) => &helm.app,
            Self::Oci(oci) => &oci.app,
        }
    }

    /// The revision as requested (a version, constraint, tag, branch or digest).
    pub fn revision(&self) -> &Revision {
        match self {
            Self::Git(git) => &git.revision,
            Self::Helm(helm) => &helm.version,
            Self::Oci(oci) => &oci.revision,
        }
    }
}

impl Helm {
    /// The chart's directory name in its archive: the last segment of its name, as upstream.
    pub fn dir(&self) -> &str {
        let name = self.chart.as_str();
        name.rsplit('/').next().unwrap_or(name)
    }
}
