//! Which tool renders an app (upstream's `GetAppSourceType` and `discovery.AppType`).

use std::collections::HashMap;
use std::path::Path;

use repo_proto::v1alpha1::ApplicationSource;

use crate::kustomize::is_kustomization;
use crate::Error;

/// How an app is rendered; [`SourceType::as_str`] gives upstream's `sourceType` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceType {
    Directory,
    Helm,
    Kustomize,
    Plugin,
}

impl SourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Directory => "Directory",
            Self::Helm => "Helm",
            Self::Kustomize => "Kustomize",
            Self::Plugin => "Plugin",
        }
    }
}

impl std::fmt::Display for SourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides the source type of the app at `app_dir` (an existing directory inside `root`).
///
/// An explicitly configured type wins ([`explicit`]); otherwise the files decide ([`found`]).
/// Config management plugins' discovery comes before the files, as upstream's
/// `discovery.AppType` asks every plugin sidecar first; it runs in the repo-server, which
/// talks to the sidecars, before it renders with these built-in tools.
pub fn detect(
    root: &Path,
    app_dir: &Path,
    source: &ApplicationSource,
    enabled: &HashMap<String, bool>,
) -> Result<SourceType, Error> {
    if let Some(t) = explicit(source, enabled)? {
        return Ok(t);
    }
    found(app_dir, enabled).map_err(|e| {
        Error::io(
            format!("listing {}", crate::root::relative(root, app_dir)),
            e,
        )
    })
}

/// The type the source configures (upstream's `ExplicitType`), if any: two configured types
/// are an error; a disabled one falls back to Directory, as upstream does.
pub fn explicit(
    source: &ApplicationSource,
    enabled: &HashMap<String, bool>,
) -> Result<Option<SourceType>, Error> {
    let explicit: Vec<SourceType> = [
        (source.kustomize.is_some(), SourceType::Kustomize),
        (source.helm.is_some(), SourceType::Helm),
        (source.directory.is_some(), SourceType::Directory),
        (source.plugin.is_some(), SourceType::Plugin),
    ]
    .into_iter()
    .filter_map(|(set, t)| set.then_some(t))
    .collect();
    match explicit[..] {
        [t] if on(enabled, t) => Ok(Some(t)),
        [_] => Ok(Some(SourceType::Directory)),
        [] => Ok(None),
        _ => {
            let names: Vec<&str> = explicit.iter().map(|t| t.as_str()).collect();
            Err(Error::InvalidArgument(format!(
                "multiple application sources defined: {}; keep only one of helm, kustomize, directory and plugin",
                names.join(",")
            )))
        }
    }
}

/// What the files directly in `dir` make of it, by upstream's discovery rule
/// (`discovery.Discover`, used by GenerateManifest, GetAppDetails and ListApps alike): in
/// file-name order, a name ending in `Chart.yaml` makes it Helm and a kustomization file makes
/// it Kustomize, each unless disabled, the later file winning (so `kustomization.yaml` beats
/// `Chart.yaml`); otherwise a Directory app. Subdirectories do not count.
pub fn found(dir: &Path, enabled: &HashMap<String, bool>) -> std::io::Result<SourceType> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.push(entry.file_name());
        }
    }
    names.sort();
    let mut found = SourceType::Directory;
    for name in &names {
        let name = name.to_string_lossy();
        if name.ends_with("Chart.yaml") && on(enabled, SourceType::Helm) {
            found = SourceType::Helm;
        }
        if is_kustomization(&name) && on(enabled, SourceType::Kustomize) {
            found = SourceType::Kustomize;
        }
    }
    Ok(found)
}

/// `enabledSourceTypes`: a type mapped to `false` is not used; absent means enabled.
fn on(enabled: &HashMap<String, bool>, t: SourceType) -> bool {
    enabled.get(t.as_str()).copied().unwrap_or(true)
}
