//! GetAppDetails: what the UI shows of an app before it is synced — a chart's name, value
//! files and parameters, the images a kustomization sets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use repo_proto::v1alpha1::{ApplicationSource, ApplicationSourceHelm};
use repo_source::RepoPath;
use serde_json::Value;

use crate::env::BuildEnv;
use crate::root::relative;
use crate::values::{value_files, Found, Place, Values};
use crate::walk::tree;
use crate::{Error, Root};

/// A Helm chart as GetAppDetails describes it (upstream's `populateHelmAppDetails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// `name` from `Chart.yaml`.
    pub name: String,
    /// Files anywhere under the app whose name contains `values` and ends in `.yaml` or
    /// `.yml` (any case), relative to the app, in walk order.
    pub value_files: Vec<String>,
    /// Leaves of `values.yaml` and then of the selected value files, later files winning, as
    /// upstream names them (`image.tag`, `ports[0]`) and prints them (numbers as Go's `%v` of
    /// a float64), sorted by name.
    pub parameters: Vec<(String, String)>,
    /// `values.yaml` as written.
    pub values: String,
    /// `helm.fileParameters` of the source, as (name, path).
    pub file_parameters: Vec<(String, String)>,
}

/// Reads the chart at `app` for `source` (already merged with its override files): every file
/// confined to its root (a symlinked `values.yaml` must not return a file from outside); an
/// absent file reads as empty. Selected value files resolve as for a render, `$VAR`s replaced
/// by nothing as upstream does here; remote ones (http and https) are fetched.
pub async fn chart(
    root: &Root,
    app: &RepoPath,
    source: &ApplicationSource,
    values: Values<'_>,
) -> Result<Chart, Error> {
    let (root, app, spec) = (
        root.clone(),
        app.clone(),
        source.helm.clone().unwrap_or_default(),
    );
    let refs = values.refs.to_vec();
    let schemes = values.schemes.to_vec();
    let (mut chart, selected) = tokio::task::spawn_blocking(move || {
        let chart = read(&root, &app, &spec)?;
        let env = BuildEnv::default();
        let subst = |s: &str| env.subst(s);
        let dir = PathBuf::from(app.as_str());
        let place = Place {
            root: root.path(),
            app: &dir,
            values: Values {
                refs: &refs,
                schemes: &schemes,
                fetch: None,
            },
            subst: &subst,
        };
        let found = value_files(&place, &spec.value_files, spec.ignore_missing_value_files())?;
        let mut texts = Vec::with_capacity(found.len());
        for f in found {
            texts.push(match f {
                Found::Repo(rel) => Text::Local(place.root.join(rel)),
                Found::Ref(real) => Text::Local(real),
                Found::Remote(url) => Text::Remote(url),
                Found::Missing(_) => continue,
            });
        }
        Ok::<_, Error>((chart, texts))
    })
    .await
    .map_err(|e| Error::io("reading the chart", std::io::Error::other(e)))??;
    let mut flat = BTreeMap::new();
    add(&chart.values, "values.yaml", &mut flat)?;
    for text in selected {
        match text {
            Text::Local(path) => {
                // Unreadable files are left out, as upstream does.
                if let Ok(body) = std::fs::read_to_string(&path) {
                    add(&body, &path.to_string_lossy(), &mut flat)?;
                }
            }
            Text::Remote(url) => {
                let lower = url.to_ascii_lowercase();
                if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                    continue;
                }
                let Some(fetch) = values.fetch else { continue };
                let body = fetch.fetch(&url).await?;
                add(
                    &String::from_utf8_lossy(&body),
                    &repo_source::display(&url),
                    &mut flat,
                )?;
            }
        }
    }
    chart.parameters = flat.into_iter().collect();
    Ok(chart)
}

/// What GetRevisionChartDetails shows of a chart: its `Chart.yaml` description, home and
/// maintainers (`name <email>`, or the name alone), as upstream's `getChartDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub description: String,
    pub home: String,
    pub maintainers: Vec<String>,
}

/// Reads the [`Summary`] of the chart at `app`, confined to `root`.
pub fn summary(root: &Root, app: &RepoPath) -> Result<Summary, Error> {
    let path = root.open(&app.join("Chart.yaml")?)?;
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(format!("{app}/Chart.yaml"), e))?;
    let meta: Value = serde_saphyr::from_str(&text)
        .map_err(|e| Error::InvalidArgument(format!("{app}/Chart.yaml: {e}")))?;
    let field = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let maintainers = meta
        .get("maintainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| match field(m, "email").as_str() {
            "" => field(m, "name"),
            email => format!("{} <{email}>", field(m, "name")).trim().to_string(),
        })
        .collect();
    Ok(Summary {
        description: field(&meta, "description"),
        home: field(&meta, "home"),
        maintainers,
    })
}

/// A selected value file to read.
enum Text {
    Local(PathBuf),
    Remote(String),
}

/// Name, value files, `values.yaml` and file parameters of the chart at `app`.
fn read(root: &Root, app: &RepoPath, spec: &ApplicationSourceHelm) -> Result<Chart, Error> {
    let text = |name: &str| -> Result<String, Error> {
        match root.open(&app.join(name)?) {
            Ok(path) => {
                std::fs::read_to_string(path).map_err(|e| Error::io(format!("{app}/{name}"), e))
            }
            Err(Error::NotFound { .. }) => Ok(String::new()),
            Err(e) => Err(e),
        }
    };
    let meta: Value = serde_saphyr::from_str(&text("Chart.yaml")?).unwrap_or_default();
    let dir = root.open(app)?;
    let mut value_files = Vec::new();
    for entry in tree(&dir) {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy();
        let ext = Path::new(&*name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if name.contains("values") && matches!(ext.as_deref(), Some("yaml" | "yml")) {
            value_files.push(relative(&dir, entry.path()));
        }
    }
    Ok(Chart {
        name: meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        value_files,
        parameters: vec![],
        values: text("values.yaml")?,
        file_parameters: spec
            .file_parameters
            .iter()
            .map(|p| (p.name().to_string(), p.path().to_string()))
            .collect(),
    })
}

/// Adds the leaves of one values document to `out`.
fn add(text: &str, file: &str, out: &mut BTreeMap<String, String>) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let parsed: Value = serde_saphyr::from_str(text)
        .map_err(|e| Error::parse(file, format!("failed to parse values: {e}")))?;
    match parsed {
        Value::Object(_) => flatten(&parsed, "", out),
        Value::Null => {}
        _ => {
            return Err(Error::parse(
                file,
                "failed to parse values: not a mapping of values",
            ))
        }
    }
    Ok(())
}

/// Leaves of a values document as upstream's `flatVals` names them: `a.b` for maps, `a[0]`
/// for lists; a null prints as `<nil>`.
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
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, &format!("{prefix}[{i}]"), out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_string(), "<nil>".into());
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        Value::Number(n) => {
            out.insert(prefix.to_string(), go_float(n.as_f64().unwrap_or_default()));
        }
    }
}

/// Go's `%v` of a float64 (every YAML number becomes one upstream): the shortest digits, in
/// exponent form (`1e+06`) when the decimal exponent is below -4 or at least 6.
fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is a number");
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
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

    #[tokio::test]
    async fn values_are_never_read_through_a_symlink_out_of_the_repository() {
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
        let source = ApplicationSource::default();
        let read = || chart(&root, &path, &source, Values::default());
        let err = read().await.unwrap_err();
        assert!(matches!(err, Error::OutOfBounds { .. }), "{err}");
        let shown = err.to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains(&*outside.path().to_string_lossy()),
            "{shown}"
        );
        std::fs::remove_file(app.join("values.yaml")).unwrap();
        let spec = read().await.unwrap();
        assert_eq!((spec.name.as_str(), spec.values.as_str()), ("web", ""));
    }

    #[test]
    fn flattens_values_and_collects_images() {
        let mut out = BTreeMap::new();
        add(
            "image:\n  repository: nginx\n  tag: 1.27\nreplicas: 2\nports: [80, {name: x}]\nbig: 1000000\nnone: null\nempty: {}\n",
            "values.yaml",
            &mut out,
        )
        .unwrap();
        let got: Vec<(&str, &str)> = out.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("big", "1e+06"),
                ("image.repository", "nginx"),
                ("image.tag", "1.27"),
                ("none", "<nil>"),
                ("ports[0]", "80"),
                ("ports[1].name", "x"),
                ("replicas", "2"),
            ]
        );
        for (f, want) in [
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(go_float(f), want);
        }
        assert!(add("- a\n", "v.yaml", &mut out).is_err());
        let manifests = vec![r#"{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.27"},{"image":"busybox"}]}}}}"#.to_string()];
        assert_eq!(images(&manifests), ["busybox", "nginx:1.27"]);
    }

    #[test]
    fn summary_reads_description_home_and_maintainers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("web")).unwrap();
        std::fs::write(
            dir.path().join("web/Chart.yaml"),
            "name: web\ndescription: A web app\nhome: https://example.com\nmaintainers:\n- name: Ann\n  email: ann@example.com\n- name: Bob\n- email: x@example.com\n",
        )
        .unwrap();
        let root = Root::new(dir.path()).unwrap();
        let s = summary(&root, &RepoPath::new("web").unwrap()).unwrap();
        assert_eq!(s.description, "A web app");
        assert_eq!(s.home, "https://example.com");
        assert_eq!(
            s.maintainers,
            ["Ann <ann@example.com>", "Bob", "<x@example.com>"]
        );
        assert!(summary(&root, &RepoPath::new("missing").unwrap()).is_err());
    }
}
