//! Helm charts stored in the repository: `helm template` with upstream's arguments and value
//! precedence (parameters > valuesObject > values > valueFiles), run in the private mirror
//! with throwaway helm homes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use repo_proto::v1alpha1::ApplicationSourceHelm;

use crate::exec::{arg, Scrub};
use crate::job::{objects, Job};
use crate::manifest::Object;
use crate::values::{Found, Place};
use crate::{deps, values, Error};

/// What `commands` shows instead of the temporary values file's path.
const VALUES_PLACEHOLDER: &str = "<temp file with source.helm.values/valuesObject>";

/// Renders the chart; returns its objects and the `helm template` command line.
pub(crate) async fn render(job: &Job<'_>) -> Result<(Vec<Object>, Vec<String>), Error> {
    let default = ApplicationSourceHelm::default();
    let spec = job.input.source.helm.as_ref().unwrap_or(&default);
    let mut scrub = job.scrub.clone();
    let files = files(job, spec, &mut scrub).await?;
    // Arguments are checked before the tool is looked for, so a bad request fails the same
    // way everywhere.
    let args = template_args(job, spec, files, &mut scrub)?;
    let Some(helm) = &job.input.tools.helm else {
        return Err(Error::Unsupported {
            what: "Helm without a helm binary (set HELM_BIN)".into(),
        });
    };
    let env = homes(job);
    deps::ensure(job, helm, &env).await?;
    let chart = job.app_dir();
    let run = job.run("helm", helm, args, &chart, env);
    let command = run.display(&scrub);
    let out = run.output(job.input.tools, &scrub).await?;
    Ok((objects("helm", &out)?, vec![command]))
}

/// The value files and `--set-file` files helm reads, as local paths: the app's in what the
/// tools see, other sources' in their snapshots (shown as `.` like the app's), remote ones
/// fetched into the request directory (shown as their URL).
struct Files {
    values: Vec<PathBuf>,
    set_file: Vec<(String, PathBuf)>,
}

async fn files(
    job: &Job<'_>,
    spec: &ApplicationSourceHelm,
    scrub: &mut Scrub,
) -> Result<Files, Error> {
    let subst = |s: &str| job.env.subst(s);
    let place = Place {
        root: &job.root,
        app: &job.app,
        values: job.input.values,
        subst: &subst,
    };
    for (_, root) in job.input.values.refs {
        scrub.add(root, ".");
        if let Ok(real) = root.canonicalize() {
            scrub.add(&real, ".");
        }
    }
    let found = values::value_files(&place, &spec.value_files, spec.ignore_missing_value_files())?;
    let mut files = Files {
        values: Vec::with_capacity(found.len()),
        set_file: Vec::new(),
    };
    for f in found {
        files.values.push(local(job, f, scrub).await?);
    }
    for p in &spec.file_parameters {
        let f = values::file(&place, p.path())?;
        files
            .set_file
            .push((p.name().to_string(), local(job, f, scrub).await?));
    }
    Ok(files)
}

/// Where helm reads `found`.
async fn local(job: &Job<'_>, found: Found, scrub: &mut Scrub) -> Result<PathBuf, Error> {
    match found {
        Found::Repo(rel) => Ok(job.work.join(rel)),
        Found::Ref(real) => Ok(real),
        Found::Missing(raw) => Err(Error::NotFound { path: raw }),
        Found::Remote(url) => {
            let Some(fetch) = job.input.values.fetch else {
                return Err(Error::Unsupported {
                    what: format!("remote value file {}", repo_source::display(&url)),
                });
            };
            let body = fetch.fetch(&url).await?;
            let dir = job.dir().join("remote");
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io("storing a remote value file", e))?;
            let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
            let path = dir.join(format!("{n}.yaml"));
            std::fs::write(&path, body).map_err(|e| Error::io("storing a remote value file", e))?;
            scrub.add(&path, &repo_source::display(&url));
            Ok(path)
        }
    }
}

/// Throwaway helm (and XDG) homes inside the request directory, so no repository, registry
/// login or cache leaks between renders.
fn homes(job: &Job<'_>) -> Vec<(String, String)> {
    let state = job.dir().join("helm");
    [
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
    ]
    .iter()
    .map(|(k, d)| (k.to_string(), state.join(d).to_string_lossy().into_owned()))
    .collect()
}

/// `helm template` arguments in upstream's order, and the scrubbing that hides the inline
/// values file in `commands`.
fn template_args(
    job: &Job<'_>,
    spec: &ApplicationSourceHelm,
    files: Files,
    scrub: &mut Scrub,
) -> Result<Vec<String>, Error> {
    let input = job.input;
    let mut args = vec!["template".to_string(), ".".into(), "--name-template".into()];
    args.push(arg(
        &release_name(spec, input.app_name),
        "helm release name",
    )?);
    let namespace = Some(spec.namespace())
        .filter(|n| !n.is_empty())
        .unwrap_or(input.namespace);
    if !namespace.is_empty() {
        args.extend(["--namespace".into(), arg(namespace, "namespace")?]);
    }
    let kube = Some(spec.kube_version())
        .filter(|v| !v.is_empty())
        .unwrap_or(input.kube_version);
    if !kube.is_empty() {
        args.extend(["--kube-version".into(), kube_version(kube)?]);
    }

    let (mut set, mut set_string, mut set_file) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for p in &spec.parameters {
        let target = if p.force_string() {
            &mut set_string
        } else {
            &mut set
        };
        target.insert(
            arg(p.name(), "helm parameter")?,
            clean(&job.env.subst(p.value())),
        );
    }
    for (name, path) in &files.set_file {
        set_file.insert(
            arg(name, "helm file parameter")?,
            clean(&path.to_string_lossy()),
        );
    }
    for (flag, map) in [
        ("--set", set),
        ("--set-string", set_string),
        ("--set-file", set_file),
    ] {
        for (k, v) in map {
            args.extend([flag.to_string(), format!("{k}={v}")]);
        }
    }

    for file in files.values {
        args.extend(["--values".into(), file.to_string_lossy().into_owned()]);
    }
    if let Some(inline) = inline_values(spec) {
        let file = job.dir().join("values.yaml");
        std::fs::write(&file, inline).map_err(|e| Error::io("writing the inline values", e))?;
        scrub.add(&file, VALUES_PLACEHOLDER);
        args.extend(["--values".into(), file.to_string_lossy().into_owned()]);
    }

    let api = if spec.api_versions.is_empty() {
        input.api_versions
    } else {
        &spec.api_versions[..]
    };
    for v in api {
        args.extend(["--api-versions".into(), arg(v, "api version")?]);
    }
    for (on, flag) in [
        (!spec.skip_crds(), "--include-crds"),
        (spec.skip_schema_validation(), "--skip-schema-validation"),
        (spec.skip_tests(), "--skip-tests"),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    Ok(args)
}

/// `releaseName`, else the app's name without an `<namespace>_` prefix, else the app name.
fn release_name(spec: &ApplicationSourceHelm, app: &str) -> String {
    if !spec.release_name().is_empty() {
        return spec.release_name().to_string();
    }
    let name = app.split_once('_').map_or(app, |(_, name)| name);
    if name.is_empty() { app } else { name }.to_string()
}

/// `valuesObject` (JSON, which helm reads as YAML) if set, else `values`; `None` when empty.
fn inline_values(spec: &ApplicationSourceHelm) -> Option<Vec<u8>> {
    let raw = spec.values_object.as_ref().and_then(|o| o.raw.clone());
    let bytes = raw.unwrap_or_else(|| spec.values().as_bytes().to_vec());
    (!bytes.is_empty()).then_some(bytes)
}

/// Escapes commas so helm does not split a value, unless it is a `{a,b}` list, and keeps
/// commas that are already escaped.
fn clean(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut prev = None;
    for c in value.chars() {
        if c == ',' && prev != Some('\\') {
            out.push_str("\\,");
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

/// Kubernetes' generic version parsing, printed back as numbers only (`v1.32.4-gke.1` gives
/// `1.32.4`), as upstream does before handing it to helm.
pub(crate) fn kube_version(raw: &str) -> Result<String, Error> {
    let bad = || {
        Error::InvalidArgument(format!(
            "kube version {raw:?} is not a version like 1.32 or v1.32.4"
        ))
    };
    let s = raw.trim_start();
    let s = s.strip_prefix('v').unwrap_or(s);
    let end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let numbers = s[..end].trim_end_matches('.');
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.len() < 2
        || parts.iter().any(|p| p.is_empty())
        || (parts[0].len() > 1 && parts[0].starts_with('0'))
    {
        return Err(bad());
    }
    let nums = parts
        .iter()
        .map(|p| p.parse::<u64>().map(|n| n.to_string()).map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(nums.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_are_escaped_except_in_lists() {
        assert_eq!(clean("a,b"), "a\\,b");
        assert_eq!(clean("a\\,b"), "a\\,b");
        assert_eq!(clean("{a,b}"), "{a,b}");
    }

    #[test]
    fn kube_versions_are_normalized() {
        assert_eq!(kube_version("v1.32.4-gke.100").unwrap(), "1.32.4");
        assert_eq!(kube_version("1.30").unwrap(), "1.30");
        assert_eq!(kube_version("1.030.1").unwrap(), "1.30.1");
        for raw in ["1", "--x", "01.2"] {
            match kube_version(raw) {
                Err(Error::InvalidArgument(message)) => assert_eq!(
                    message,
                    format!("kube version {raw:?} is not a version like 1.32 or v1.32.4")
                ),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn release_name_drops_the_namespace_prefix() {
        let mut spec = ApplicationSourceHelm::default();
        assert_eq!(release_name(&spec, "team_web"), "web");
        assert_eq!(release_name(&spec, "web"), "web");
        spec.release_name = Some("rel".into());
        assert_eq!(release_name(&spec, "team_web"), "rel");
    }
}
