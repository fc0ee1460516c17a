//! Upstream's manifest cache key (`manifestKey.String()` in `reposerver/cache`), which its API
//! server also computes to move entries to a new commit on a webhook.

use std::collections::BTreeMap;

use repo_proto::v1alpha1::{ApplicationSource, RefTarget, SourceIntegrity};

use super::source;

/// What upstream's `NewManifestKey` is built from, as a GenerateManifest (or
/// UpdateRevisionForPaths) request carries it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The resolved revision: a commit, a chart version or an OCI digest.
    pub revision: &'a str,
    pub source: &'a ApplicationSource,
    /// `refSources`, by name.
    pub refs: &'a [(String, RefTarget)],
    /// The commit each repository of a ref source a value file uses resolved to, by URL:
    /// as `refSources` spells it or as this server keys it (normalized, marks after a newline).
    pub ref_commits: &'a [(String, String)],
    pub namespace: &'a str,
    pub tracking_method: &'a str,
    pub app_label_key: &'a str,
    pub app_name: &'a str,
    pub installation_id: &'a str,
    pub source_integrity: Option<&'a SourceIntegrity>,
    pub kube_version: &'a str,
    pub api_versions: &'a [String],
}

/// Upstream's `mfst|…` key of the manifests `req` asks for; `None` when Go cannot marshal the
/// source and ref sources resolved to commits: upstream then hashes nothing, so the name holds
/// none of those commits, and renders of other commits would share it.
pub(crate) fn manifest_name(req: &Request<'_>) -> Option<String> {
    let resolved = resolved(req.refs, req.ref_commits);
    let json = source::key_json(req.source, req.refs, &resolved);
    if json.is_empty() && !resolved.is_empty() {
        return None;
    }
    let app = fnv32a(&json);
    let hash = app.wrapping_add(cluster_key(req.kube_version, req.api_versions));
    let mut name = format!(
        "mfst|{}|{}|{}|{}|{hash}|{}",
        tracking_key(req.app_label_key, req.tracking_method),
        req.app_name,
        req.revision,
        req.namespace,
        integrity_key(req.source_integrity),
    );
    if !req.installation_id.is_empty() {
        name.push('|');
        name.push_str(req.installation_id);
    }
    Some(name)
}

/// Upstream's `refSourceCommitSHAs`: the commits by upstream's normalized URL, spelled as the
/// ref sources spell their repositories (upstream keeps user names and lowercases paths, this
/// server's keys do neither).
pub(super) fn resolved(
    refs: &[(String, RefTarget)],
    commits: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (url, sha) in commits {
        let url = url.split('\n').next().unwrap_or_default();
        let repo = repo_source::normalize(url);
        let spelled: Vec<&str> = refs
            .iter()
            .map(|(_, t)| t.repo.as_ref().map(|r| r.repo()).unwrap_or_default())
            .filter(|spelled| repo_source::normalize(spelled) == repo)
            .collect();
        if spelled.is_empty() {
            out.insert(source::normalize(url), sha.clone());
        }
        for spelled in spelled {
            out.insert(source::normalize(spelled), sha.clone());
        }
    }
    out
}

/// Whether upstream would keep a source-integrity verdict in the entry named `name` (git
/// policies apply), which an upstream repo-server serves as is where this server checks anew.
/// A name with git policies always holds this text; any other part holding it too only makes
/// the answer err on the safe side.
pub(super) fn checks_integrity(name: &str) -> bool {
    name.contains("|&SourceIntegrity{Git:&")
}

/// The label key, prefixed by the tracking method unless that is `label` (the default).
fn tracking_key(label_key: &str, method: &str) -> String {
    match method {
        "" | "label" => label_key.to_string(),
        method => format!("{method}:{label_key}"),
    }
}

/// FNV-32a of the kube version and the sorted API versions (`clusterRuntimeInfoKey`).
fn cluster_key(kube_version: &str, api_versions: &[String]) -> u32 {
    let mut apis = api_versions.to_vec();
    apis.sort();
    fnv32a(format!("{kube_version}|{}", apis.join(",")).as_bytes())
}

/// `SourceIntegrity.CacheKey()`: the gogo-protobuf `String()` of the policies.
fn integrity_key(integrity: Option<&SourceIntegrity>) -> String {
    let Some(integrity) = integrity else {
        return "nil".into();
    };
    let Some(git) = &integrity.git else {
        return "&SourceIntegrity{Git:nil,}".into();
    };
    let mut out = String::from(
        "&SourceIntegrity{Git:&SourceIntegrityGit{Policies:[]*SourceIntegrityGitPolicy{",
    );
    for policy in &git.policies {
        out.push_str("&SourceIntegrityGitPolicy{Repos:[]SourceIntegrityGitPolicyRepo{");
        for repo in &policy.repos {
            out.push_str(&format!(
                "SourceIntegrityGitPolicyRepo{{URL:{},}},",
                repo.url()
            ));
        }
        out.push_str("},GPG:");
        match &policy.gpg {
            None => out.push_str("nil"),
            Some(gpg) => out.push_str(&format!(
                "&SourceIntegrityGitPolicyGPG{{Mode:{},Keys:[{}],}}",
                gpg.mode(),
                gpg.keys.join(" ")
            )),
        }
        out.push_str(",},");
    }
    out.push_str("},},}");
    out
}

/// FNV-1a, 32 bits (upstream's `hash.FNVa`).
fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
