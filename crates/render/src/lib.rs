//! Manifest generation: an immutable repository snapshot plus a manifest request in,
//! Kubernetes objects out, as Argo CD's repo-server `GenerateManifest` produces them.
//!
//! ```text
//! render(Input) ─ Root::open(path) ─ detect ─┬─ Directory: YAML/JSON; Jsonnet in a child process
//!                                            ├─ Kustomize: [private mirror → kustomize edit] → build
//!                                            └─ Helm: [private mirror → dependency build] → template
//!                ─ lists expanded, tracking applied, one compact JSON string per object
//! ```
//!
//! The snapshot is shared between requests and never written: Directory apps, and tools that
//! only read (`kustomize build` without overrides, `helm template` of a chart that needs no
//! dependency build), read it in place; tools that write run in a per-request mirror under
//! [`Tools::scratch`] where only the app's subtree is materialized (real copies of the files
//! directly in it, the only ones tools write) and the rest links back to the snapshot. Every
//! path from a request is a [`RepoPath`] opened through the content [`Root`]; a symlink anywhere in the
//! repository that escapes it fails every tool render without revealing its target (scanned
//! once per git snapshot, see [`Scans`]).
//!
//! Tools run with a fresh environment (`PATH`, a private `HOME`, the `ARGOCD_APP_*` build
//! variables, `KUBE_VERSION`, `KUBE_API_VERSIONS`), in their own process group, killed with
//! it on timeout, with capped output, and, where the kernel has Landlock, confined to the
//! render's own content roots and request directory ([`Sandbox`]). Values taken from the
//! request never reach a tool's argument list where they could pass for a flag.
//!
//! What a snapshot contains is read here too: app discovery and directory listing ([`discover`],
//! [`directories`]), file globbing ([`files`]), Helm app details ([`chart`], [`images`]) and
//! the unpacking of streamed files ([`unpack`]), each through the same root, walker
//! and link rule.
//!
//! The source is first merged with the `.argocd-source*.yaml` files in the app directory
//! ([`overrides`]). Helm value files may also come from other sources' snapshots (`$ref/…`) and
//! from URLs, through [`Values`].
//!
//! Config management plugins are the repo-server's (it talks to their sidecars); this crate
//! gives it their environment and turns their output into manifests ([`plugin_env`],
//! [`plugin_manifests`]). Not handled here: OCI or Helm-repository sources
//! ([`Error::Unsupported`]).
#![forbid(unsafe_code)]

mod apps;
mod deps;
mod details;
mod detect;
mod directory;
mod env;
mod error;
mod evaluator;
mod exec;
mod files;
mod glob;
mod helm;
mod imports;
mod job;
mod jsonnet;
mod kustomize;
mod launcher;
mod links;
mod manifest;
mod mirror;
mod overrides;
mod plugin;
mod root;
mod sandbox;
mod scan;
mod submodules;
mod tools;
mod tracking;
mod unpack;
mod usage;
mod values;
mod walk;
mod wire;
mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use repo_proto::v1alpha1::ApplicationSource;

pub use apps::{directories, discover};
pub use deps::HelmRepo;
pub use details::{chart, images, summary, Chart, Summary};
pub use detect::{detect, explicit, found, SourceType};
pub use error::Error;
pub use evaluator::{evaluator_main, EVALUATOR_ARG};
pub use exec::capped;
pub use files::files;
pub use glob::filepath as filepath_glob;
pub use kustomize::Kustomize;
pub use launcher::{sandbox_main, SANDBOX_ARG};
pub use links::in_bounds;
pub use overrides::overrides;
pub use plugin::{app_env, envsubst, plugin_env, plugin_manifests};
pub use repo_source::RepoPath;
pub use root::{confine, Root};
pub use sandbox::Sandbox;
pub use scan::Scans;
pub use tools::Tools;
pub use tracking::Tracking;
pub use unpack::{unpack, MAX_ENTRIES};
pub use usage::{metered, Meter, Spent};
pub use values::{Fetch, Values};
pub use yaml::documents as yaml_documents;

use directory::Directory;
use env::BuildEnv;
use job::{Job, View};

/// One manifest request against one snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Root of the checked-out snapshot. Shared and read-only: never written.
    pub root: &'a Path,
    /// The application source: path, and helm/kustomize/directory/plugin settings.
    pub source: &'a ApplicationSource,
    /// The app's directory in `root` when it is not `source.path`: a Helm chart's directory
    /// in its unpacked archive.
    pub app_path: Option<&'a RepoPath>,
    /// The app instance name the controller sends (`ns_name` outside the control-plane
    /// namespace); tracking value and `ARGOCD_APP_NAME`.
    pub app_name: &'a str,
    /// Destination namespace.
    pub namespace: &'a str,
    /// AppProject name, for `ARGOCD_APP_PROJECT_NAME`.
    pub project: &'a str,
    pub kube_version: &'a str,
    pub api_versions: &'a [String],
    pub tracking: Tracking<'a>,
    /// `enabledSourceTypes`: a type mapped to `false` is not used; absent means enabled.
    pub enabled: &'a HashMap<String, bool>,
    /// Resolved commit SHA, for `ARGOCD_APP_REVISION*`.
    pub revision: &'a str,
    /// Sanitized repository URL, for `ARGOCD_APP_SOURCE_REPO_URL`.
    pub repo_url: &'a str,
    pub tools: &'a Tools,
    /// The instance's Kustomize settings: build options and registered binaries.
    pub kustomize: &'a Kustomize,
    /// Where the symlink scan of an immutable root (a git snapshot) is remembered; `None` scans
    /// on every render (streamed files).
    pub scans: Option<&'a Scans>,
    /// Other sources' snapshots, allowed URL schemes and the fetcher for Helm value files.
    pub values: Values<'a>,
    /// Repositories and credentials for `helm dependency build`.
    pub helm_repos: &'a [HelmRepo],
}

/// What a render produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// One compact JSON object per manifest, tracking applied, in generation order.
    pub manifests: Vec<String>,
    pub source_type: SourceType,
    /// The tool command lines run, private paths replaced by `.` (upstream's
    /// `ManifestResponse.commands`); empty for Directory apps.
    pub commands: Vec<String>,
}

/// Renders the app `input` describes.
pub async fn render(input: &Input<'_>) -> Result<Rendered, Error> {
    let content = Root::new(input.root)?;
    let app_path = match input.app_path {
        Some(path) => path.clone(),
        None => RepoPath::new(input.source.path())?,
    };
    let path = app_path.as_str();
    submodules::refuse_inside(&content, &app_path)?;
    let app = content.open(&app_path)?;
    let root = content.path().to_path_buf();
    if !app.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{path}: app path is not a directory"
        )));
    }
    let source = {
        let (content, app) = (content.clone(), app_path.clone());
        let (source, name) = (input.source.clone(), input.app_name.to_string());
        let refs: Vec<PathBuf> = input.values.refs.iter().map(|(_, r)| r.clone()).collect();
        let scans = input.scans.cloned();
        usage::blocking(move || {
            // Other sources' snapshots pass the same symlink scan as the app's.
            for other in refs {
                scan::check(Root::new(&other)?.path(), scans.as_ref())?;
            }
            overrides(&content, &app, &source, &name)
        })
        .await
        .map_err(|e| Error::io("reading the source overrides", std::io::Error::other(e)))??
    };
    let input = &Input {
        source: &source,
        ..*input
    };
    let source_type = detect(&root, &app, input.source, input.enabled)?;
    let env = BuildEnv::new(input);
    let (objects, commands) = match source_type {
        SourceType::Plugin => {
            return Err(Error::Unsupported {
                what: "Config management plugins (source type Plugin)".into(),
            })
        }
        SourceType::Directory => {
            let spec = input.source.directory.clone().unwrap_or_default();
            let jsonnet = input.enabled.get("Directory").copied().unwrap_or(true);
            let max_bytes = input.tools.max_directory_bytes;
            let files = usage::blocking(move || {
                Directory {
                    root: &content,
                    app: &app,
                    spec: &spec,
                    env: &env,
                    jsonnet,
                    max_bytes,
                }
                .files()
            })
            .await
            .map_err(|e| Error::io("rendering the directory", std::io::Error::other(e)))?;
            (files.objects(input.tools).await?, vec![])
        }
        SourceType::Helm => {
            let rel = app.strip_prefix(&root).expect("confined").to_path_buf();
            // `helm template` only reads; `helm dependency build` writes into the chart.
            let view = if deps::needed(&root, &rel)? {
                View::Private
            } else {
                View::Shared
            };
            let job = Job::new(input, env, root, rel, view).await?;
            helm::render(&job).await?
        }
        SourceType::Kustomize => {
            let rel = app.strip_prefix(&root).expect("confined").to_path_buf();
            let plan = kustomize::Plan::new(input, &env, &root, &rel)?;
            // `kustomize build` only reads: without edits it runs on the shared snapshot, so the
            // apps of a monorepo do not each pay for a private view of the whole repository.
            let view = if plan.writes() {
                View::Private
            } else {
                View::Shared
            };
            let job = Job::new(input, env, root, rel, view).await?;
            kustomize::render(&job, plan).await?
        }
    };
    let manifests = manifest::finish(objects, &input.tracking, input.app_name, input.namespace)?;
    Ok(Rendered {
        manifests,
        source_type,
        commands,
    })
}
