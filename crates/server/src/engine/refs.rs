//! Multi-source apps: the other sources (`refSources`) that Helm value files and file
//! parameters name as `$name/…`, resolved to commits and checked out as snapshots, as upstream's
//! `resolveReferencedSources`/`runManifestGenAsync` and `populateHelmAppDetails` do. Each is
//! read in place by the render, confined to its own snapshot.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use repo_git::{Refresh, Snapshot};
use repo_proto::v1alpha1::ApplicationSource;
use repo_source::{Invalid, Repo, Revision};

use crate::engine::{Engine, Error};

/// Another source of a multi-source app, named `$<ref>` by the controller.
#[derive(Debug, Clone)]
pub(crate) struct RefSource {
    pub repo: Repo,
    pub revision: Revision,
    /// Set when the source is a Helm chart, which upstream does not serve as a ref.
    pub chart: String,
}

/// `refSources` by `$name`, each parsed on its own: upstream only looks at the sources a value
/// file names, so one nobody uses must not fail the request.
pub(crate) type RefSources = BTreeMap<String, Result<RefSource, Invalid>>;

/// A ref source at its commit.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub name: String,
    pub repo: Repo,
    pub sha: String,
}

/// The `$name`s that `files` (value files, file parameter paths) start with, once each.
pub(super) fn named<'a>(files: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for f in files.into_iter().filter(|f| f.starts_with('$')) {
        let name = f.split_once('/').map_or(f, |(name, _)| name);
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// The `$name`s of `spec`'s Helm value files and file parameters.
pub(super) fn used(spec: &ApplicationSource) -> Vec<String> {
    let Some(helm) = &spec.helm else {
        return vec![];
    };
    let files = helm.value_files.iter().map(String::as_str);
    named(files.chain(helm.file_parameters.iter().map(|p| p.path())))
}

/// The ref source `name`, with upstream's errors for one that is not there or is a chart.
pub(super) fn lookup<'a>(refs: &'a RefSources, name: &str) -> Result<&'a RefSource, Error> {
    let Some(found) = refs.get(name) else {
        if refs.is_empty() {
            return Err(Error::Unknown(format!(
                "source referenced {name:?}, but no source has a 'ref' field defined"
            )));
        }
        let names: Vec<&str> = refs.keys().map(String::as_str).collect();
        return Err(Error::Unknown(format!(
            "source referenced {name:?}, which is not one of the available sources ({})",
            names.join(", ")
        )));
    };
    let found = found.as_ref().map_err(|e| Error::Invalid(e.clone()))?;
    if !found.chart.is_empty() {
        return Err(Error::Unknown(
            "source has a 'chart' field defined, but Helm charts are not yet not supported for 'ref' sources"
                .into(),
        ));
    }
    Ok(found)
}

/// The app's own repository and revision, which a ref source may share only at the same commit.
pub(super) struct Main<'a> {
    pub repo: &'a Repo,
    pub revision: &'a str,
    pub sha: &'a str,
}

impl Engine {
    /// Resolves the ref sources `names` to commits, refusing two commits of one repository.
    pub(super) async fn resolve_refs(
        &self,
        refs: &RefSources,
        names: &[String],
        main: &Main<'_>,
        refresh: Refresh,
    ) -> Result<Vec<Resolved>, Error> {
        let mut out: Vec<(Resolved, &RefSource)> = Vec::new();
        for name in names {
            let target = lookup(refs, name)?;
            let sha = self
                .resolve(&target.repo, &target.revision, "", refresh)
                .await?;
            // Its files reach the manifests: only credentials that may read it get them.
            self.git.authorize_commit(&target.repo, &sha).await?;
            let key = &target.repo.remote.key;
            if *key == main.repo.remote.key && sha != main.sha {
                return Err(Error::Unknown(format!(
                    "cannot reference a different revision of the same repository ({name} references {:?} which resolves to {sha:?} while the application references {:?} which resolves to {:?})",
                    target.revision.as_str(), main.revision, main.sha
                )));
            }
            if let Some((prev, t)) = out.iter().find(|(r, _)| r.repo.remote.key == *key) {
                if prev.sha != sha {
                    return Err(Error::Unknown(format!(
                        "cannot reference multiple revisions for the same repository ({name} references {:?} which resolves to {sha:?} while {} references {:?} which resolves to {:?})",
                        target.revision.as_str(), prev.name, t.revision.as_str(), prev.sha
                    )));
                }
            }
            let resolved = Resolved {
                name: name.clone(),
                repo: target.repo.clone(),
                sha,
            };
            out.push((resolved, target));
        }
        Ok(out.into_iter().map(|(r, _)| r).collect())
    }

    /// The snapshots of resolved ref sources, kept alive by the caller while they are read.
    pub(super) async fn snapshot_refs(
        &self,
        resolved: &[Resolved],
    ) -> Result<Vec<(String, Arc<Snapshot>)>, Error> {
        let mut out = Vec::with_capacity(resolved.len());
        for r in resolved {
            out.push((r.name.clone(), self.git.snapshot(&r.repo, &r.sha).await?));
        }
        Ok(out)
    }
}

/// The `(name, root)` pairs a render reads ref sources from.
pub(super) fn roots(snapshots: &[(String, Arc<Snapshot>)]) -> Vec<(String, PathBuf)> {
    snapshots
        .iter()
        .map(|(name, s)| (name.clone(), s.path().to_path_buf()))
        .collect()
}

/// Each ref source's repository at its commit: part of the manifest key, so a push to a values
/// repository renders again.
pub(super) fn commits(resolved: &[Resolved]) -> BTreeMap<String, String> {
    resolved
        .iter()
        .map(|r| (super::key::repository(&r.repo), r.sha.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_value_files_and_file_parameters_once_each() {
        assert_eq!(
            named([
                "$values/a.yaml",
                "local.yaml",
                "$values/b.yaml",
                "$other",
                "x/$no"
            ]),
            ["$values", "$other"]
        );
    }

    #[test]
    fn a_missing_ref_is_named_with_the_available_ones() {
        let none = RefSources::new();
        assert_eq!(
            lookup(&none, "$values").unwrap_err().to_string(),
            "source referenced \"$values\", but no source has a 'ref' field defined"
        );
        let repo = Repo::new("https://git.example/v.git", Default::default()).unwrap();
        let target = |chart: &str| {
            Ok(RefSource {
                repo: repo.clone(),
                revision: Revision::new("main").unwrap(),
                chart: chart.into(),
            })
        };
        let refs = RefSources::from([("$a".into(), target("")), ("$b".into(), target("web"))]);
        assert_eq!(
            lookup(&refs, "$values").unwrap_err().to_string(),
            "source referenced \"$values\", which is not one of the available sources ($a, $b)"
        );
        assert!(lookup(&refs, "$b")
            .unwrap_err()
            .to_string()
            .contains("'chart' field"));
        assert!(lookup(&refs, "$a").is_ok());
    }
}
