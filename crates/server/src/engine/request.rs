//! What the engine is asked and what it answers, in domain terms (the gRPC layer maps these to
//! and from the wire).

use std::collections::HashMap;

use repo_source::Source;

/// The application a render is for, as the caller describes it.
#[derive(Debug, Clone, Default)]
pub struct Context {
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
}

/// A GenerateManifest request.
#[derive(Debug, Clone)]
pub struct Generate {
    pub source: Source,
    pub context: Context,
    /// `noCache`: render again even when the cache holds this input.
    pub no_cache: bool,
    /// `refSources` by name, encoded: part of the cache key.
    pub ref_sources: Vec<(String, Vec<u8>)>,
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub manifests: Vec<String>,
    /// Upstream's `sourceType` string.
    pub source_type: String,
    pub commands: Vec<String>,
    /// The commit rendered, or `streamed`.
    pub revision: String,
}

/// How GetAppDetails describes an app.
#[derive(Debug, Clone, PartialEq)]
pub enum Details {
    Helm(repo_render::Chart),
    Kustomize { images: Vec<String> },
    Directory,
}
