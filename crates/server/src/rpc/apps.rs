//! ListApps and GetAppDetails: what applications a repository holds and how each renders.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use repo_proto::repository::{
    DirectoryAppSpec, HelmAppSpec, KustomizeAppSpec, RepoAppDetailsResponse,
    RepoServerAppDetailsQuery,
};
use repo_proto::v1alpha1::{ApplicationSource, HelmParameter};
use repo_render::SourceType;
use tonic::Status;

use crate::rpc::engine::{directories, Engine};
use crate::rpc::status;

const KUSTOMIZATIONS: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Every directory that is a Helm chart or a Kustomize app, as upstream's discovery reports
/// them (plain directories are not listed).
pub fn discover(root: &Path, enabled: &HashMap<String, bool>) -> HashMap<String, String> {
    let on = |t: &str| enabled.get(t).copied().unwrap_or(true);
    let mut apps = HashMap::new();
    for dir in std::iter::once(".".to_string()).chain(directories(root)) {
        let path = root.join(&dir);
        if path.join("Chart.yaml").is_file() && on("Helm") {
            apps.insert(dir, "Helm".to_string());
        } else if KUSTOMIZATIONS.iter().any(|k| path.join(k).is_file()) && on("Kustomize") {
            apps.insert(dir, "Kustomize".to_string());
        }
    }
    apps
}

/// Scalar leaves of a values document as dotted parameter names (`image.tag`), sorted.
fn parameters(values: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    match values {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                parameters(v, &name, out);
            }
        }
        serde_json::Value::Array(_) | serde_json::Value::Null => {}
        serde_json::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// A file of the app directory, read only if it stays inside the repository (a symlinked
/// `values.yaml` must not return a file from outside); absent reads as empty.
fn read(root: &Path, app_path: &str, name: &str) -> Result<String, Status> {
    let relative = Path::new(app_path).join(name);
    match repo_render::confine(root, &relative.to_string_lossy()) {
        Ok(path) => std::fs::read_to_string(path)
            .map_err(|e| Status::internal(format!("{}: {e}", relative.display()))),
        Err(repo_render::Error::NotFound { .. }) => Ok(String::new()),
        Err(e) => Err(status::render(e)),
    }
}

fn helm(root: &Path, app_path: &str, app: &Path) -> Result<HelmAppSpec, Status> {
    let chart: serde_json::Value =
        serde_saphyr::from_str(&read(root, app_path, "Chart.yaml")?).unwrap_or_default();
    let mut value_files: Vec<String> = std::fs::read_dir(app)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| {
                    n.starts_with("values") && (n.ends_with(".yaml") || n.ends_with(".yml"))
                })
                .collect()
        })
        .unwrap_or_default();
    value_files.sort();
    let values = read(root, app_path, "values.yaml")?;
    let parsed: serde_json::Value = serde_saphyr::from_str(&values).unwrap_or_default();
    let mut flat = BTreeMap::new();
    parameters(&parsed, "", &mut flat);
    Ok(HelmAppSpec {
        name: chart
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string(),
        value_files,
        parameters: flat
            .into_iter()
            .map(|(name, value)| HelmParameter {
                name: Some(name),
                value: Some(value),
                force_string: Some(false),
            })
            .collect(),
        values,
        file_parameters: vec![],
    })
}

/// Images of the rendered objects' containers, deduplicated and sorted.
fn images(manifests: &[String]) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("image", serde_json::Value::String(image)) => {
                            out.insert(image.clone());
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for m in manifests {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(m) {
            walk(&v, &mut out);
        }
    }
    out.into_iter().collect()
}

pub async fn details(
    engine: &Engine,
    root: &Path,
    source: &ApplicationSource,
    query: &RepoServerAppDetailsQuery,
    sha: &str,
    url: &str,
) -> Result<RepoAppDetailsResponse, Status> {
    let app = repo_render::confine(root, source.path()).map_err(status::render)?;
    let kind = repo_render::detect(root, &app, source, &query.enabled_source_types)
        .map_err(status::render)?;
    let mut response = RepoAppDetailsResponse {
        r#type: kind.as_str().to_string(),
        ..Default::default()
    };
    match kind {
        SourceType::Helm => response.helm = Some(helm(root, source.path(), &app)?),
        SourceType::Kustomize => {
            let rendered = engine
                .render_at(
                    root,
                    source,
                    &query.app_name,
                    &query.enabled_source_types,
                    sha,
                    url,
                )
                .await?;
            response.kustomize = Some(KustomizeAppSpec {
                images: images(&rendered.manifests),
            });
        }
        SourceType::Directory => response.directory = Some(DirectoryAppSpec {}),
        SourceType::Plugin => {
            return Err(Status::unimplemented(
                "config management plugins are not supported",
            ))
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_charts_and_kustomizations() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (file, body) in [
            ("charts/web/Chart.yaml", "name: web\n"),
            ("overlays/prod/kustomization.yaml", "resources: []\n"),
            ("plain/cm.yaml", "kind: ConfigMap\n"),
        ] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), body).unwrap();
        }
        let apps = discover(root, &HashMap::new());
        assert_eq!(apps.get("charts/web").map(String::as_str), Some("Helm"));
        assert_eq!(
            apps.get("overlays/prod").map(String::as_str),
            Some("Kustomize")
        );
        assert_eq!(apps.len(), 2);
        let no_helm = HashMap::from([("Helm".to_string(), false)]);
        assert_eq!(discover(root, &no_helm).len(), 1);
    }

    #[test]
    fn values_are_never_read_through_a_symlink_out_of_the_repository() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "password: hunter2\n").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let app = repo.path().join("chart");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("Chart.yaml"), "name: web\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), app.join("values.yaml"))
            .unwrap();
        let err = helm(repo.path(), "chart", &app).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            !err.message().contains("hunter2")
                && !err.message().contains(&*outside.path().to_string_lossy())
        );
        std::fs::remove_file(app.join("values.yaml")).unwrap();
        let spec = helm(repo.path(), "chart", &app).unwrap();
        assert_eq!((spec.name.as_str(), spec.values.as_str()), ("web", ""));
    }

    #[test]
    fn flattens_values_and_collects_images() {
        let values: serde_json::Value =
            serde_saphyr::from_str("image:\n  repository: nginx\n  tag: 1.27\nreplicas: 2\n")
                .unwrap();
        let mut out = BTreeMap::new();
        parameters(&values, "", &mut out);
        assert_eq!(
            out.get("image.repository").map(String::as_str),
            Some("nginx")
        );
        assert_eq!(out.get("replicas").map(String::as_str), Some("2"));
        let manifests = vec![r#"{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.27"},{"image":"busybox"}]}}}}"#.to_string()];
        assert_eq!(images(&manifests), ["busybox", "nginx:1.27"]);
    }
}
