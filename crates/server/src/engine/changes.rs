//! UpdateRevisionForPaths, as upstream's: whether a new commit touches an app's
//! manifest-generate-paths, in its own repository and in the ref sources its Helm value files
//! use; when nothing changed, the cached manifests move to the new commit so the next
//! GenerateManifest is a hit.

use std::collections::BTreeMap;

use repo_cache::{Key, Store};
use repo_git::Refresh;
use repo_source::{Repo, Revision};

use crate::engine::request::{Changed, Changes};
use crate::engine::{key, paths, Engine, Error};

/// One repository compared between two revisions.
struct Compared {
    resolved: String,
    synced: String,
    changed: bool,
}

impl Engine {
    pub(crate) async fn changes(&self, req: &Changes) -> Result<Changed, Error> {
        if req.paths.is_empty() {
            // Without paths every commit counts (and upstream names no revision).
            return Ok(Changed {
                changes: true,
                revision: String::new(),
            });
        }
        if req.git.is_none() && req.refs.is_empty() {
            return Ok(Changed::default());
        }
        let mut revision = req.revision.clone();
        let mut synced = req.synced.clone();
        let mut moved = false;
        if let Some(repo) = &req.git {
            if req.synced != req.revision {
                let c = self
                    .compare(repo, &req.revision, &req.synced, &req.paths, req.refresh)
                    .await?;
                (revision, synced) = (c.resolved.clone(), c.synced.clone());
                moved |= c.resolved != c.synced;
                if c.changed {
                    return Ok(Changed {
                        changes: true,
                        revision,
                    });
                }
            }
        }
        let (mut new_refs, mut old_refs) = (BTreeMap::new(), BTreeMap::new());
        for name in &req.used_refs {
            let Some(synced_ref) = req.synced_refs.get(name) else {
                return Err(Error::Unknown(format!(
                    "source referenced {name:?}, but no source has a 'ref' field defined"
                )));
            };
            let target = req
                .refs
                .get(name)
                .map(|r| r.target_revision.as_str())
                .unwrap_or_default();
            let (mut resolved, mut was) = (
                synced_ref.target_revision.clone(),
                synced_ref.target_revision.clone(),
            );
            if synced_ref.target_revision != target {
                let c = self
                    .compare(
                        &synced_ref.repo,
                        target,
                        &synced_ref.target_revision,
                        &req.paths,
                        req.refresh,
                    )
                    .await?;
                moved |= c.resolved != c.synced;
                if c.changed {
                    return Ok(Changed {
                        changes: true,
                        revision,
                    });
                }
                (resolved, was) = (c.resolved, c.synced);
            }
            new_refs.insert(synced_ref.repo.remote.key.clone(), resolved);
            old_refs.insert(synced_ref.repo.remote.key.clone(), was);
        }
        if !moved {
            return Ok(Changed {
                changes: false,
                revision,
            });
        }
        let parts = key::Parts {
            repo: &req.repo_key,
            spec: &req.spec,
            context: &req.context,
            refs: &req.ref_sources,
            integrity: req.integrity.as_ref(),
        };
        let (from, to) = (
            parts.base(&synced, &old_refs),
            parts.base(&revision, &new_refs),
        );
        // A miss (nothing rendered at the synced commit, or its entry is gone) counts as a
        // change, as upstream: the next GenerateManifest renders.
        let changes = match self.variants.get(&from) {
            Some(extras) => {
                let key = |base: &Key, at: &str, refs: &BTreeMap<String, String>| {
                    let full = key::full(base, &extras);
                    match self.shared {
                        true => key::named(full, &parts, at, refs, &extras),
                        false => full,
                    }
                };
                let renamed = self
                    .manifests
                    .rename(
                        &key(&from, &synced, &old_refs),
                        &key(&to, &revision, &new_refs),
                    )
                    .await;
                if renamed {
                    self.variants.remember(to, &extras);
                }
                !renamed
            }
            // Rendered by another replica (or before a restart): the settings it was rendered
            // with are not known here, so the shared entry moves by upstream's name alone, as
            // upstream's API server moves it; its check still guards every read.
            None if self.shared => {
                let named = |base: Key, at: &str, refs: &BTreeMap<String, String>| {
                    Some(base.named(key::upstream_name(&parts, at, refs)?, [0; 32]))
                };
                match (
                    named(from, &synced, &old_refs),
                    named(to, &revision, &new_refs),
                ) {
                    (Some(from), Some(to)) => !self.manifests.store().rename(&from, &to).await,
                    _ => true,
                }
            }
            None => true,
        };
        Ok(Changed { changes, revision })
    }

    /// Resolves both revisions of `repo` and compares the files between them (upstream's
    /// `gitSourceHasChanges`); failures are upstream's INTERNAL errors.
    async fn compare(
        &self,
        repo: &Repo,
        revision: &str,
        synced: &str,
        refresh_paths: &[String],
        refresh: Refresh,
    ) -> Result<Compared, Error> {
        let unresolvable = |e: &dyn std::fmt::Display| {
            Error::Internal(format!("unable to resolve git revision {revision}: {e}"))
        };
        let resolve = |raw: &str| {
            let raw = raw.to_string();
            async move {
                let wanted = Revision::new(&raw).map_err(|e| unresolvable(&e))?;
                self.git
                    .resolve_with(repo, &wanted, "", refresh)
                    .await
                    .map(|r| r.sha)
                    .map_err(|e| unresolvable(&e))
            }
        };
        let resolved = resolve(revision).await?;
        let synced = resolve(synced).await?;
        if resolved == synced {
            return Ok(Compared {
                resolved,
                synced,
                changed: false,
            });
        }
        let files = self
            .git
            .changed_paths(repo, &synced, &resolved)
            .await
            .map_err(|e| {
                Error::Internal(format!(
                    "unable to get changed files for repo {} with revision {resolved}: {e}",
                    repo.url()
                ))
            })?;
        // An empty diff changes nothing (upstream only matches a non-empty list).
        let changed = !files.is_empty() && paths::changed(refresh_paths, &files);
        Ok(Compared {
            resolved,
            synced,
            changed,
        })
    }
}
