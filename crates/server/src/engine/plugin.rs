//! Config management plugins, the repo-server's side (upstream's `GetAppSourceType`,
//! `runConfigManagementPluginSidecars`, `populatePluginAppDetails` and `discovery.Discover`):
//! which sidecar takes an app, what it is sent, and its answer.
//!
//! ```text
//! source merged with .argocd-source*.yaml ─ explicit type?
//!   plugin            → the named sidecar (its discovery must match, if it has one enabled)
//!   helm/kustomize/…  → built-in tools
//!   none              → every sidecar's discovery, by socket name → first match, else built-in
//! ```
//!
//! The sidecar gets the repository (or, with `--plugin-use-manifest-generate-paths`, the part
//! the app's annotation names) as repo-cmp's archive, without the `--plugin-tar-exclude`
//! files, and upstream's variables. Repository credentials are never sent: a sidecar that asks
//! for them (`provideGitCreds`) is refused for a repository that has some.

mod env;

use std::path::Path;
use std::time::Duration;

use repo_cmp::{Dial, Found, Pack, Sockets};
use repo_proto::repository::ParameterAnnouncement;
use repo_proto::v1alpha1::ApplicationSource;
use repo_render::{Input, Rendered, RepoPath, Root, SourceType};

use self::env::{entries, with_plugin, Vars};
use super::{blocking, Error};
use crate::config;

/// Whether a render asks the plugins before the built-in tools.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ask {
    /// As GenerateManifest does; `creds`: whether the repository has credentials (a plugin
    /// asking for them is then refused).
    First { creds: bool },
    /// The type is decided already.
    Never,
}

/// The plugin sidecars and how they are asked.
pub(crate) struct Plugins {
    sockets: Sockets,
    dial: Dial,
    exclude: Vec<String>,
    generate_paths: bool,
}

impl Plugins {
    /// Each call to a sidecar is bounded by `ARGOCD_EXEC_TIMEOUT`, the bound the sidecar puts
    /// on its own commands.
    pub(crate) fn new(settings: &config::Plugins, exec_timeout: Duration) -> Self {
        Self {
            sockets: Sockets::new(&settings.socket_dir),
            dial: Dial {
                deadline: exec_timeout,
                chunk_size: settings.chunk_size,
                ..Dial::default()
            },
            exclude: settings.tar_exclude.clone(),
            generate_paths: settings.use_generate_paths,
        }
    }

    /// The sidecars' names (ListPlugins): their sockets' names without `.sock`, in name order.
    pub(crate) async fn names(&self) -> Result<Vec<String>, Error> {
        let listed = self
            .sockets
            .list()
            .await
            .map_err(|e| Error::Unknown(e.to_string()))?;
        Ok(listed.into_iter().map(|(name, _)| name).collect())
    }

    /// GenerateManifest's plugin path: the plugin's manifests when a plugin takes the app,
    /// `None` when built-in tools render it. `creds` says whether the repository has
    /// credentials; `annotation` is the app's manifest-generate-paths annotation.
    pub(crate) async fn render(
        &self,
        input: &Input<'_>,
        creds: bool,
        annotation: &str,
    ) -> Result<Option<Rendered>, Error> {
        let app = match input.app_path {
            Some(path) => path.clone(),
            None => RepoPath::new(input.source.path())?,
        };
        let Some(merged) = merged(input.root, &app, input.source, input.app_name).await? else {
            return Ok(None);
        };
        let pack = Pack::new(input.root, app).exclude(self.exclude.clone());
        let failed = |e: repo_cmp::Error| cmp_failed(input.app_name, e);
        let (vars, found) = match repo_render::explicit(&merged, input.enabled)? {
            Some(SourceType::Plugin) => {
                let spec = merged.plugin.as_ref();
                let vars = with_plugin(repo_render::plugin_env(input)?, spec);
                let name = spec.map(|p| p.name()).filter(|n| !n.is_empty());
                let found = self.detect(name, &pack, &vars).await.map_err(failed)?;
                (vars, found)
            }
            Some(_) => return Ok(None),
            // Upstream's type detection sends `newEnv` only; the KUBE_* variables (and a bad
            // kube version's error) come once a plugin takes the app.
            None => match self.discover(&pack, &repo_render::app_env(input)).await {
                Ok(Some(found)) => (repo_render::plugin_env(input)?, found),
                Ok(None) => return Ok(None),
                Err(e) => return Err(undiscovered(input.app_name, e)),
            },
        };
        let Found {
            plugin,
            config,
            packed,
        } = found;
        if config.provide_git_creds && creds {
            return Err(Error::Unsupported(format!(
                "CMP processing failed for application {:?}: plugin {} asks for the repository's git credentials (provideGitCreds), which this repo-server does not send to plugins; set provideGitCreds: false in its plugin.yaml",
                input.app_name,
                plugin.name()
            )));
        }
        let pack = match self.generate_paths {
            true => pack.generate_paths(annotation),
            false => pack,
        };
        let packed = match packed {
            Some(packed) if pack.is_whole() => Ok(packed),
            _ => pack.pack().await,
        }
        .map_err(failed)?;
        let answer = (plugin.generate_manifest(&packed, &entries(&vars)).await).map_err(failed)?;
        let (method, label_key, installation_id) = (
            input.tracking.method.to_string(),
            input.tracking.label_key.to_string(),
            input.tracking.installation_id.to_string(),
        );
        let (name, namespace) = (input.app_name.to_string(), input.namespace.to_string());
        let manifests = blocking(move || {
            let tracking = repo_render::Tracking {
                method: &method,
                label_key: &label_key,
                installation_id: &installation_id,
            };
            repo_render::plugin_manifests(&answer.manifests, &tracking, &name, &namespace)
        })
        .await
        .map_err(|e| Error::Unknown(format!("CMP processing failed for application {:?}: failed to convert CMP manifests to unstructured objects: {e}", input.app_name)))?;
        Ok(Some(Rendered {
            manifests,
            source_type: SourceType::Plugin,
            commands: vec![],
        }))
    }

    /// GetAppDetails' plugin path: the parameters the plugin announces, when a plugin takes
    /// the app (`merged` is the source with its override files). `build` is upstream's
    /// `newEnvRepoQuery`, for discovery.
    pub(crate) async fn details(
        &self,
        root: &Path,
        app: &RepoPath,
        merged: &ApplicationSource,
        enabled: &std::collections::HashMap<String, bool>,
        build: Vars,
    ) -> Result<Option<Vec<ParameterAnnouncement>>, Error> {
        let pack = Pack::new(root, app.clone()).exclude(self.exclude.clone());
        // Upstream's announcement env: these four and the plugin's own.
        let four: Vars = build
            .iter()
            .filter(|(name, _)| {
                matches!(
                    name.as_str(),
                    "ARGOCD_APP_NAME"
                        | "ARGOCD_APP_SOURCE_REPO_URL"
                        | "ARGOCD_APP_SOURCE_PATH"
                        | "ARGOCD_APP_SOURCE_TARGET_REVISION"
                )
            })
            .cloned()
            .collect();
        let failed = |e: repo_cmp::Error| {
            Error::Unknown(format!(
                "failed to populate plugin app details: failed to detect CMP for app: {e}"
            ))
        };
        let (vars, found) = match repo_render::explicit(merged, enabled)? {
            Some(SourceType::Plugin) => {
                let spec = merged.plugin.as_ref();
                let vars = with_plugin(four, spec);
                let name = spec.map(|p| p.name()).filter(|n| !n.is_empty());
                let found = self.detect(name, &pack, &vars).await.map_err(failed)?;
                (vars, found)
            }
            Some(_) => return Ok(None),
            None => match self.discover(&pack, &build).await {
                Ok(Some(chosen)) => (four, chosen),
                Ok(None) => return Ok(None),
                Err(e) => return Err(failed(e)),
            },
        };
        let (plugin, packed) = (found.plugin, found.packed);
        let packed = match packed {
            Some(packed) => packed,
            None => pack.pack().await.map_err(failed)?,
        };
        let answer = plugin
            .get_parameters_announcement(&packed, &entries(&vars))
            .await
            .map_err(|e| {
                Error::Unknown(format!(
                    "failed to populate plugin app details: failed to get parameter announcement: {e}"
                ))
            })?;
        Ok(Some(answer.parameter_announcements))
    }

    /// ListApps' plugin path (upstream's `discovery.Discover` of the repository root): whether
    /// a plugin's discovery takes the whole repository, which is then the one app.
    pub(crate) async fn takes_root(&self, root: &Path) -> bool {
        let pack = Pack::new(root, RepoPath::root()).exclude(self.exclude.clone());
        // ListApps only suggests directories: a sidecar that does not answer takes nothing.
        matches!(self.discover(&pack, &Vars::new()).await, Ok(Some(_)))
    }

    /// The named sidecar, or with no name the first whose discovery matches.
    async fn detect(
        &self,
        name: Option<&str>,
        pack: &Pack,
        vars: &Vars,
    ) -> Result<Found, repo_cmp::Error> {
        repo_cmp::detect(&self.sockets, name, pack, &entries(vars), self.dial).await
    }

    /// Discovery over every sidecar, as upstream's type detection: the first whose discovery
    /// matches; `None` when every sidecar answered, none taking the app (a discovery command
    /// that fails counts as "not mine", as upstream). A sidecar that cannot be reached is an
    /// error, where upstream falls back to the built-in tools: the app may be that plugin's,
    /// and rendering it without the plugin deploys what the plugin was meant to transform.
    async fn discover(&self, pack: &Pack, vars: &Vars) -> Result<Option<Found>, repo_cmp::Error> {
        match self.detect(None, pack, vars).await {
            Ok(chosen) => Ok(Some(chosen)),
            Err(repo_cmp::Error::NoPlugin { last, .. }) => {
                if let Some(e) = last {
                    tracing::debug!(error = %e, "no plugin discovery matched");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether a repository has credentials a plugin asking for them (`provideGitCreds`) would
/// get from upstream.
pub(crate) fn has_creds(repo: &repo_source::Repo) -> bool {
    let c = &repo.creds;
    [
        &c.username,
        &c.password,
        &c.bearer_token,
        &c.ssh_private_key,
        &c.tls_client_cert_key,
        &c.github_app_private_key,
    ]
    .iter()
    .any(|v| !v.is_empty())
}

/// Upstream's `newEnvRepoQuery`: GetAppDetails' variables for plugin discovery.
pub(crate) fn details_env(name: &str, revision: &str, url: &str, spec: &ApplicationSource) -> Vars {
    [
        ("ARGOCD_APP_NAME", name),
        ("ARGOCD_APP_REVISION", revision),
        ("ARGOCD_APP_SOURCE_REPO_URL", url),
        ("ARGOCD_APP_SOURCE_PATH", spec.path()),
        ("ARGOCD_APP_SOURCE_TARGET_REVISION", spec.target_revision()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The source merged with the app's override files, `None` when the app path is not a
/// directory (the built-in path reports that as it always has).
async fn merged(
    root: &Path,
    app: &RepoPath,
    source: &ApplicationSource,
    name: &str,
) -> Result<Option<ApplicationSource>, Error> {
    let (root, app, source, name) = (
        root.to_path_buf(),
        app.clone(),
        source.clone(),
        name.to_string(),
    );
    blocking(move || {
        let root = Root::new(&root)?;
        match root.open(&app) {
            Ok(dir) if dir.is_dir() => {}
            _ => return Ok(None),
        }
        repo_render::overrides(&root, &app, &source, &name).map(Some)
    })
    .await
}

/// A plugin failure as upstream words GenerateManifest's.
/// A sidecar did not answer discovery for an app of no explicit type.
fn undiscovered(app: &str, e: repo_cmp::Error) -> Error {
    Error::Unknown(format!(
        "plugin discovery failed for application {app:?}, which a plugin may own, so it is not rendered with the built-in tools: {e}; check the plugin sidecars, or name the app's type (directory, helm, kustomize) in its source"
    ))
}

fn cmp_failed(app: &str, e: repo_cmp::Error) -> Error {
    Error::Unknown(format!(
        "CMP processing failed for application {app:?}: {e}"
    ))
}
