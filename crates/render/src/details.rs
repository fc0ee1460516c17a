//! GetAppDetails: what the UI shows of an app before it is synced — a chart's name, value
//! files and parameters, the images a kustomization sets.

use std::collections::{BTreeMap, BTreeSet};

use repo_source::RepoPath;
use serde_json::Value;

use crate::{Error, Root};

/// A Helm chart as GetAppDetails describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// `name` from `Chart.yaml`.
    pub name: String,
    /// `values*.yaml` / `values*.yml` files in the chart directory, sorted.
    pub value_files: Vec<String>,
    /// Scalar leaves of `values.yaml` as dotted names (`image.tag`) with their values, sorted.
    pub parameters: Vec<(String, String)>,
    /// `values.yaml` as written.
    pub values: String,
}

/// Reads the chart at `app`, every file confined to the root (a symlinked `values.yaml` must
/// not return a file from outside); an absent file reads as empty.
pub fn chart(root: &Root, app: &RepoPath) -> Result<Chart, Error> {
    let read = |name: &str| -> Result<String, Error> {
        match root.open(&app.join(name)?) {
            Ok(path) => {
                std::fs::read_to_string(path).map_err(|e| Error::io(format!("{app}/{name}"), e))
            }
            Err(Error::NotFound { .. }) => Ok(String::new()),
            Err(e) => Err(e),
        }
    };
    let meta: Value = serde_saphyr::from_str(&read("Chart.yaml")?).unwrap_or_default();
    let dir = root.open(app)?;
    let mut value_files: Vec<String> = std::fs::read_dir(&dir)
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
    let values = read("values.yaml")?;
    let parsed: Value = serde_saphyr::from_str(&values).unwrap_or_default();
    let mut flat = BTreeMap::new();
    flatten(&parsed, "", &mut flat);
    Ok(Chart {
        name: meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        value_files,
        parameters: flat.into_iter().collect(),
        values,
    })
}

/// Scalar leaves of a values document as dotted parameter names (`image.tag`).
fn flatten(values: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    match values {
        Value::Object(map) => {
            for (k, v) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &name, out);
            }
        }
        Value::Array(_) | Value::Null => {}
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Images of the rendered objects' containers, deduplicated and sorted.
pub fn images(manifests: &[String]) -> Vec<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("image", Value::String(image)) => {
                            out.insert(image.clone());
                        }
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for m in manifests {
        if let Ok(v) = serde_json::from_str::<Value>(m) {
            walk(&v, &mut out);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let root = Root::new(repo.path()).unwrap();
        let path = RepoPath::new("chart").unwrap();
        let err = chart(&root, &path).unwrap_err();
        assert!(matches!(err, Error::OutOfBounds { .. }), "{err}");
        let shown = err.to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains(&*outside.path().to_string_lossy()),
            "{shown}"
        );
        std::fs::remove_file(app.join("values.yaml")).unwrap();
        let spec = chart(&root, &path).unwrap();
        assert_eq!((spec.name.as_str(), spec.values.as_str()), ("web", ""));
    }

    #[test]
    fn flattens_values_and_collects_images() {
        let values: Value =
            serde_saphyr::from_str("image:\n  repository: nginx\n  tag: 1.27\nreplicas: 2\n")
                .unwrap();
        let mut out = BTreeMap::new();
        flatten(&values, "", &mut out);
        assert_eq!(
            out.get("image.repository").map(String::as_str),
            Some("nginx")
        );
        assert_eq!(out.get("replicas").map(String::as_str), Some("2"));
        let manifests = vec![r#"{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.27"},{"image":"busybox"}]}}}}"#.to_string()];
        assert_eq!(images(&manifests), ["busybox", "nginx:1.27"]);
    }
}
