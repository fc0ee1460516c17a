//! `helm dependency build` for charts that declare dependencies but ship no `charts/`, cached
//! in the scratch area by a digest of the chart and its local (`file://`) dependencies, so a
//! chart is built once per content rather than once per render (upstream #8698).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::job::Job;
use crate::root::{confine, relative};
use crate::walk::tree;
use crate::{yaml, Error};

/// A Helm repository a chart's dependencies may come from: the request's `repos` and
/// `helmRepoCreds`, matched as upstream does. Credentials stay in `repo.creds`.
#[derive(Clone, Debug)]
pub struct HelmRepo {
    /// The repository's name in Argo CD (`@name` / `alias:name` in `Chart.yaml`).
    pub name: String,
    pub repo: repo_source::Repo,
    /// An OCI registry rather than an index (`enableOCI`, type `oci`).
    pub oci: bool,
    /// `insecureOCIForceHttp`: `--plain-http` for the registry.
    pub plain_http: bool,
}

/// Makes sure the mirror's chart has its `charts/` directory when it declares dependencies.
pub(crate) async fn ensure(
    job: &Job<'_>,
    helm: &Path,
    env: &[(String, String)],
) -> Result<(), Error> {
    let chart = job.app_dir();
    if chart.join("charts").exists() {
        return Ok(());
    }
    let Some(locals) = dependencies(job)? else {
        return Ok(());
    };
    let key = digest(&chart, &locals).map_err(|e| Error::io("hashing the chart", e))?;
    let cache = job.input.tools.scratch.join("helm-deps").join(&key);
    if cache.join("charts").is_dir() {
        return restore(&cache, &chart)
            .map_err(|e| Error::io("restoring cached chart dependencies", e));
    }
    let args = vec!["dependency".to_string(), "build".to_string()];
    job.run("helm", helm, args, &chart, env.to_vec())
        .output(job.input.tools, &job.scrub)
        .await?;
    // The cache is an optimisation: failing to fill it must not fail the render.
    if let Err(e) = save(&chart, &cache) {
        tracing::warn!(error = %e, "could not cache helm chart dependencies");
    }
    Ok(())
}

/// Whether rendering the chart at `app` (relative to `root`) runs `helm dependency build`,
/// which writes into the chart: it declares dependencies and ships no `charts/`.
pub(crate) fn needed(root: &Path, app: &Path) -> Result<bool, Error> {
    let chart = root.join(app);
    Ok(!chart.join("charts").exists() && !declared(&chart, root)?.is_empty())
}

/// The dependencies `Chart.yaml` and `requirements.yaml` declare; errors name files relative
/// to `base`.
fn declared(chart: &Path, base: &Path) -> Result<Vec<Value>, Error> {
    let mut deps = Vec::new();
    for name in ["Chart.yaml", "requirements.yaml"] {
        let file = chart.join(name);
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let shown = relative(base, &file);
        let doc = yaml::parse(&text).map_err(|m| Error::parse(&shown, m))?;
        if let Some(Value::Array(list)) = doc.get("dependencies") {
            deps.extend(list.iter().cloned());
        }
    }
    Ok(deps)
}

/// `None` when the chart declares no dependencies; else the local dependency directories.
fn dependencies(job: &Job<'_>) -> Result<Option<Vec<PathBuf>>, Error> {
    let deps = declared(&job.app_dir(), &job.work)?;
    if deps.is_empty() {
        return Ok(None);
    }
    let mut locals = Vec::new();
    for dep in deps {
        let Some(repo) = dep.get("repository").and_then(Value::as_str) else {
            continue;
        };
        if let Some(path) = repo.strip_prefix("file://") {
            let rel = job.app.join(path);
            locals.push(confine(&job.root, &rel.to_string_lossy())?);
        }
    }
    Ok(Some(locals))
}

/// Digest of every file (path and content) of the chart and its local dependencies.
fn digest(chart: &Path, locals: &[PathBuf]) -> io::Result<String> {
    let mut h = Sha256::new();
    for dir in std::iter::once(chart).chain(locals.iter().map(PathBuf::as_path)) {
        for entry in tree(dir) {
            let entry = entry.map_err(io::Error::other)?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            h.update(rel.as_os_str().as_encoded_bytes());
            h.update([0]);
            h.update(fs::read(entry.path())?);
            h.update([0]);
        }
        h.update(b"\x01");
    }
    Ok(hex::encode(h.finalize()))
}

/// Copies the built `charts/` (and a generated `Chart.lock`) into the cache.
fn save(chart: &Path, cache: &Path) -> io::Result<()> {
    let parent = cache.parent().expect("cache entries have a parent");
    fs::create_dir_all(parent)?;
    let tmp = tempfile::tempdir_in(parent)?;
    copy_tree(&chart.join("charts"), &tmp.path().join("charts"))?;
    let lock = chart.join("Chart.lock");
    if lock.is_file() {
        fs::copy(&lock, tmp.path().join("Chart.lock"))?;
    }
    // Publish atomically; if a concurrent render got there first, keep its copy.
    let built = tmp.keep();
    if fs::rename(&built, cache).is_err() {
        fs::remove_dir_all(&built)?;
    }
    Ok(())
}

fn restore(cache: &Path, chart: &Path) -> io::Result<()> {
    copy_tree(&cache.join("charts"), &chart.join("charts"))?;
    let lock = cache.join("Chart.lock");
    if lock.is_file() && !chart.join("Chart.lock").exists() {
        fs::copy(&lock, chart.join("Chart.lock"))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in tree(from) {
        let entry = entry.map_err(io::Error::other)?;
        let dest = to.join(entry.path().strip_prefix(from).expect("below from"));
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest)?;
        } else if entry.file_type().is_file() {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}
