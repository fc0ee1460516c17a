//! What the engine is asked and what it answers, in domain terms (the gRPC layer maps these to
//! and from the wire).

use std::collections::HashMap;

use repo_source::{Repo, Source};

/// The application a render is for, as the caller describes it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// The app instance name the controller sends; tracking value and `ARGOCD_APP_NAME`.
    pub name: String,
    pub namespace: String,
    pub project: String,
    pub kube_version: String,
    pub api_versions: Vec<String>,
    pub tracking_method: String,
    pub label_key: String,
    pub installation_id: String,
    /// `enabledSourceTypes`: a type mapped to `false` is not used.
    pub enabled: HashMap<String, bool>,
    /// `kustomizeOptions`: argocd-cm's build options and registered binaries.
    pub kustomize: repo_render::Kustomize,
    /// `refSources`: the other sources of a multi-source app, by `$name`.
    pub refs: crate::engine::RefSources,
    /// `helmOptions.valuesFileSchemes`: URL schemes a Helm value file may use.
    pub schemes: Vec<String>,
    /// `repos` and `helmRepoCreds`: where chart dependencies come from, with credentials.
    pub helm_repos: Vec<repo_render::HelmRepo>,
    /// `annotationManifestGeneratePaths`: what a plugin is sent with
    /// `--plugin-use-manifest-generate-paths`.
    pub generate_paths: String,
}

/// A GenerateManifest request.
#[derive(Debug, Clone)]
pub(crate) struct Generate {
    pub source: Source,
    pub context: Context,
    /// `noCache`: render again even when the cache holds this input.
    pub no_cache: bool,
    /// `noCache`/`noRevisionCache`: list the refs anew to resolve the revision.
    pub refresh: repo_git::Refresh,
    /// `refSources` by name, encoded: part of the cache key.
    pub ref_sources: Vec<(String, Vec<u8>)>,
    /// `hasMultipleSources`.
    pub multiple: bool,
    /// `sourceIntegrity`: the AppProject's git policies.
    pub policies: repo_git::Policies,
    /// The same, as sent: part of upstream's name of the manifests in a shared store.
    pub integrity: Option<repo_proto::v1alpha1::SourceIntegrity>,
    /// The deprecated `verifySignature`: gpg's output is returned as `verifyResult`.
    pub verify_signature: bool,
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Generated {
    pub manifests: Vec<String>,
    /// Upstream's `sourceType` string.
    pub source_type: String,
    pub commands: Vec<String>,
    /// The commit rendered, or `streamed`.
    pub revision: String,
    /// The source-integrity check of that commit (git sources only), never cached.
    pub verified: crate::engine::Verified,
}

/// How GetAppDetails describes an app.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Details {
    Helm(repo_render::Chart),
    Kustomize {
        images: Vec<String>,
    },
    Directory,
    /// The parameters the plugin announces.
    Plugin(Vec<repo_proto::repository::ParameterAnnouncement>),
}

/// An UpdateRevisionForPaths request (manifest-generate-paths).
#[derive(Debug, Clone)]
pub(crate) struct Changes {
    /// The main source's repository when the source is git; `None` for a Helm or OCI
    /// source, where only the ref sources are compared.
    pub git: Option<Repo>,
    /// Normalized URL of the main source's repository (part of the manifest key).
    pub repo_key: String,
    /// The revision to sync and the one synced last, as the controller sends them.
    pub revision: String,
    pub synced: String,
    /// The app's refresh paths, repository-relative (`GetSourceRefreshPaths`).
    pub paths: Vec<String>,
    pub refresh: repo_git::Refresh,
    /// `$name` of each ref source a Helm value file or file parameter uses (multi-source).
    pub used_refs: Vec<String>,
    pub refs: HashMap<String, RefTarget>,
    pub synced_refs: HashMap<String, RefTarget>,
    /// What keys the app's manifests, to move them when nothing changed.
    pub spec: repo_proto::v1alpha1::ApplicationSource,
    pub context: Context,
    pub ref_sources: Vec<(String, Vec<u8>)>,
    /// `sourceIntegrity`, as sent: part of upstream's name of the manifests to move.
    pub integrity: Option<repo_proto::v1alpha1::SourceIntegrity>,
}

/// A ref source of a multi-source app: a repository at a target revision.
#[derive(Debug, Clone)]
pub(crate) struct RefTarget {
    pub repo: Repo,
    pub target_revision: String,
}

/// What UpdateRevisionForPaths answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changed {
    pub changes: bool,
    pub revision: String,
}

/// What TestRepository checks, by the repository's type.
#[derive(Debug, Clone)]
pub(crate) enum Probe {
    /// A git repository (type `git` or empty).
    Git(Repo),
    /// A Helm repository's index (type `helm`).
    Index(Repo),
    /// An OCI registry (type `oci`, or type `helm` with `enableOCI`).
    Oci { repo: Repo, plain_http: bool },
}
