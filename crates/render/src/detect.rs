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
/// An explicitly configured type wins (two configured types are an error); a disabled
/// explicit type falls back to Directory, as upstream does. Otherwise a file whose name ends
/// in `Chart.yaml` means Helm and a kustomization file means Kustomize (Kustomize wins when
/// both are present), each unless disabled; anything else is a Directory app.
pub fn detect(
    root: &Path,
    app_dir: &Path,
    source: &ApplicationSource,
    enabled: &HashMap<String, bool>,
) -> Result<SourceType, Error> {
    let on = |t: SourceType| enabled.get(t.as_str()).copied().unwrap_or(true);
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
        [t] if on(t) => return Ok(t),
        [_] => return Ok(SourceType::Directory),
        [] => {}
        _ => {
            let names: Vec<&str> = explicit.iter().map(|t| t.as_str()).collect();
            return Err(Error::InvalidArgument(format!(
                "multiple application sources defined: {}; keep only one of helm, kustomize, directory and plugin",
                names.join(",")
            )));
        }
    }
    let shown = || crate::confine::relative(root, app_dir);
    let entries =
        std::fs::read_dir(app_dir).map_err(|e| Error::io(format!("listing {}", shown()), e))?;
    let mut found = SourceType::Directory;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", shown()), e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_kustomization(&name) && on(SourceType::Kustomize) {
            found = SourceType::Kustomize;
        } else if name.ends_with("Chart.yaml")
            && on(SourceType::Helm)
            && found != SourceType::Kustomize
        {
            found = SourceType::Helm;
        }
    }
    Ok(found)
}
