//! The manifest cache key, in one place. Its base holds what upstream's `NewManifestKey` keys
//! by, which UpdateRevisionForPaths can rebuild from its own request to move an entry to the
//! next commit; the settings it does not carry (enabled source types, kustomize options) are
//! added on top and remembered per base ([`Variants`]), so a move finds them.
//!
//! With a shared store, keys also carry upstream's `mfst|…` name ([`named`]) and a check of
//! everything else that keys them here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use prost::Message;
use repo_cache::{Key, KeyBuilder};
use repo_proto::v1alpha1::{ApplicationSource, RefTarget, SourceIntegrity};

use crate::engine::{upstream, Context};

/// What keys an app's manifests besides the revision.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parts<'a> {
    /// Normalized URL of the main source's repository.
    pub repo: &'a str,
    pub spec: &'a ApplicationSource,
    pub context: &'a Context,
    /// `refSources` by name, encoded.
    pub refs: &'a [(String, Vec<u8>)],
    /// `sourceIntegrity`, as sent (upstream's name holds it).
    pub integrity: Option<&'a SourceIntegrity>,
}

impl Parts<'_> {
    /// The base key of the manifests rendered at `revision`, with the ref sources'
    /// repositories at `ref_commits` (normalized URL → commit).
    pub(super) fn base(&self, revision: &str, ref_commits: &BTreeMap<String, String>) -> Key {
        let ctx = &self.context;
        let mut key = KeyBuilder::new()
            .part("repo", self.repo.as_bytes())
            .part("commit", revision.as_bytes())
            .part("source", &self.spec.encode_to_vec())
            .part("namespace", ctx.namespace.as_bytes())
            .part("tracking", ctx.tracking_method.as_bytes())
            .part("label", ctx.label_key.as_bytes())
            .part("installation", ctx.installation_id.as_bytes())
            .part("kube", ctx.kube_version.as_bytes())
            .part("apis", ctx.api_versions.join(",").as_bytes())
            .part("app", ctx.name.as_bytes());
        let mut refs: Vec<_> = self.refs.iter().collect();
        refs.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, target) in refs {
            key = key.part(name, target);
        }
        for (url, commit) in ref_commits {
            key = key.part(url, commit.as_bytes());
        }
        key.build()
    }
}

/// `key` with its name in the shared store: upstream's `mfst|…` string of the manifests
/// rendered at `revision` with the ref sources at `ref_commits`, and a check over everything
/// that keys them here but the commits (a move to another commit keeps it).
///
/// `None` when the render used Helm dependency credentials: the check would be a digest of
/// them, and credentials never leave the replica, so such entries stay in its memory.
pub(super) fn named(
    key: Key,
    parts: &Parts<'_>,
    revision: &str,
    ref_commits: &BTreeMap<String, String>,
    extras: &[u8],
) -> Key {
    if parts
        .context
        .helm_repos
        .iter()
        .any(|r| *r.repo.creds != Default::default())
    {
        return key;
    }
    let Some(name) = upstream_name(parts, revision, ref_commits) else {
        return key;
    };
    let check = *full(&parts.base("", &BTreeMap::new()), extras).as_bytes();
    key.named(name, check)
}

/// Upstream's `mfst|…` name of the manifests `parts` key at `revision` and `ref_commits`, if
/// it tells them apart ([`upstream::manifest_name`]).
pub(super) fn upstream_name(
    parts: &Parts<'_>,
    revision: &str,
    ref_commits: &BTreeMap<String, String>,
) -> Option<String> {
    use prost::Message as _;
    // Encoded by the request parser from the same messages; one that does not decode is left
    // out, and the check still tells the entries apart.
    let refs: Vec<(String, RefTarget)> = parts
        .refs
        .iter()
        .filter_map(|(name, bytes)| Some((name.clone(), RefTarget::decode(bytes.as_slice()).ok()?)))
        .collect();
    let ref_commits: Vec<(String, String)> = ref_commits
        .iter()
        .map(|(url, sha)| (url.clone(), sha.clone()))
        .collect();
    let ctx = parts.context;
    upstream::manifest_name(&upstream::Request {
        revision,
        source: parts.spec,
        refs: &refs,
        ref_commits: &ref_commits,
        namespace: &ctx.namespace,
        tracking_method: &ctx.tracking_method,
        app_label_key: &ctx.label_key,
        app_name: &ctx.name,
        installation_id: &ctx.installation_id,
        source_integrity: parts.integrity,
        kube_version: &ctx.kube_version,
        api_versions: &ctx.api_versions,
    })
}

/// The settings of a GenerateManifest request that key its manifests beyond the base.
pub(super) fn extras(context: &Context) -> Vec<u8> {
    let mut enabled: Vec<_> = context.enabled.iter().collect();
    enabled.sort();
    let mut out = format!("{enabled:?}").into_bytes();
    out.push(0);
    out.extend_from_slice(&context.kustomize.key());
    // A scheme allowed no longer must not keep serving what it fetched.
    out.push(0);
    out.extend_from_slice(context.schemes.join(",").as_bytes());
    // Dependencies built with one caller's repository credentials must not be served to a
    // caller without them; only a digest of them is kept.
    out.push(0);
    out.extend_from_slice(&dependency_credentials(&context.helm_repos));
    out
}

/// SHA-256 over the dependency repositories and their credentials.
fn dependency_credentials(repos: &[repo_render::HelmRepo]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for r in repos {
        let c = &r.repo.creds;
        let flags = [r.oci, r.plain_http, r.template, c.insecure];
        for part in [
            r.name.as_str(),
            r.repo.url(),
            &c.username,
            &c.password,
            &c.bearer_token,
            &c.tls_client_cert_data,
            &c.tls_client_cert_key,
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        hash.update(flags.map(u8::from));
    }
    hash.finalize().into()
}

/// A repository as the key names it: its normalized URL, marked when its snapshots hold LFS
/// content (the same commit has other files with and without `enableLfs`).
pub(super) fn repository(repo: &repo_source::Repo) -> String {
    match repo.lfs {
        true => format!("{}\n+lfs", repo.remote.key),
        false => repo.remote.key.clone(),
    }
}

/// The full key: a base plus the extras it was rendered with.
pub(super) fn full(base: &Key, extras: &[u8]) -> Key {
    KeyBuilder::new()
        .part("base", base.as_bytes())
        .part("extras", extras)
        .build()
}

/// The extras last rendered under each base key, so that a move can rebuild the full keys.
#[derive(Default)]
pub(super) struct Variants(Mutex<HashMap<Key, Arc<[u8]>>>);

/// Bases remembered at most; the memory is emptied when full (a miss only costs a render).
const VARIANTS: usize = 65_536;

impl Variants {
    pub(super) fn remember(&self, base: Key, extras: &[u8]) {
        let mut map = self.0.lock();
        if map.get(&base).is_some_and(|e| **e == *extras) {
            return;
        }
        if map.len() >= VARIANTS {
            map.clear();
        }
        map.insert(base, extras.into());
    }

    pub(super) fn get(&self, base: &Key) -> Option<Arc<[u8]>> {
        self.0.lock().get(base).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_and_each_ref_commit_key_the_manifests() {
        let (spec, context) = (ApplicationSource::default(), Context::default());
        let parts = Parts {
            repo: "https://git.example/a",
            spec: &spec,
            context: &context,
            refs: &[],
            integrity: None,
        };
        let none = BTreeMap::new();
        let at = |sha: &str| {
            BTreeMap::from([("https://git.example/values".to_string(), sha.to_string())])
        };
        assert_eq!(parts.base("c1", &none), parts.base("c1", &none));
        assert_ne!(parts.base("c1", &none), parts.base("c2", &none));
        assert_ne!(parts.base("c1", &at("v1")), parts.base("c1", &at("v2")));
        assert_ne!(parts.base("c1", &at("v1")), parts.base("c1", &none));
        let base = parts.base("c1", &none);
        assert_ne!(full(&base, b"a"), full(&base, b"b"));
    }

    #[test]
    fn names_follow_the_commit_and_checks_do_not() {
        let spec = ApplicationSource {
            repo_url: Some("https://git.example/a".into()),
            path: Some("app".into()),
            ..Default::default()
        };
        let context = Context {
            name: "guestbook".into(),
            namespace: "default".into(),
            ..Context::default()
        };
        let parts = Parts {
            repo: "https://git.example/a",
            spec: &spec,
            context: &context,
            refs: &[],
            integrity: None,
        };
        let none = BTreeMap::new();
        let at = |sha: &str| {
            named(
                full(&parts.base(sha, &none), b"x"),
                &parts,
                sha,
                &none,
                b"x",
            )
        };
        let (c1, c2) = (at("c1"), at("c2"));
        let (n1, n2) = (c1.name().unwrap(), c2.name().unwrap());
        assert!(n1.text.starts_with("mfst|"), "{}", n1.text);
        assert!(n1.text.contains("|c1|"), "{}", n1.text);
        assert_ne!(n1.text, n2.text);
        assert_eq!(n1.check, n2.check);
        let other = named(
            full(&parts.base("c1", &none), b"y"),
            &parts,
            "c1",
            &none,
            b"y",
        );
        assert_eq!(other.name().unwrap().text, n1.text);
        assert_ne!(other.name().unwrap().check, n1.check, "extras are checked");
    }

    #[test]
    fn renders_with_dependency_credentials_are_not_shared() {
        let spec = ApplicationSource::default();
        let creds = repo_source::Creds {
            password: "p".into(),
            ..Default::default()
        };
        let context = Context {
            helm_repos: vec![repo_render::HelmRepo {
                name: "deps".into(),
                repo: repo_source::Repo::new("https://charts.example", creds).unwrap(),
                oci: false,
                plain_http: false,
                template: false,
                unsupported: None,
            }],
            ..Context::default()
        };
        let parts = Parts {
            repo: "https://git.example/a",
            spec: &spec,
            context: &context,
            refs: &[],
            integrity: None,
        };
        let none = BTreeMap::new();
        let key = named(
            full(&parts.base("c1", &none), b""),
            &parts,
            "c1",
            &none,
            b"",
        );
        assert_eq!(key.name(), None);
    }
}
