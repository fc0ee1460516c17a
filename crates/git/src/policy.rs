//! Source integrity for git sources, as upstream's `util/sourceintegrity`: the AppProject's
//! git policy that applies to a repository (by URL globs), and its GPG check of a revision
//! against the keyring: `head` verifies the annotated tag the revision names, else its
//! commit; `strict` verifies the tag and every commit back to the seal commits; `none`
//! verifies nothing. The verdict keeps upstream's words: the check name `GIT/GPG`, its
//! problems, and the deprecated `signatureInfo`/`verifyResult` strings.

use std::sync::atomic::{AtomicBool, Ordering};

use globset::GlobBuilder;

use crate::keyring::Keyring;
use crate::verify::{Signature, Signatures, Target, Verdict};
use crate::{Cache, Error, Repo};

/// Upstream's check name.
pub const CHECK: &str = "GIT/GPG";
/// Upstream reports at most this many problems.
const MAX_PROBLEMS: usize = 10;

/// The git policies of an AppProject's `sourceIntegrity` (the domain value of
/// `SourceIntegrity.git.policies`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policies(pub Vec<Policy>);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// URL globs (gobwas without separators); a leading `!` excludes.
    pub repos: Vec<String>,
    pub gpg: Option<Gpg>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gpg {
    /// `none`, `head` or `strict`.
    pub mode: String,
    /// Allowed key IDs or fingerprints.
    pub keys: Vec<String>,
}

/// A check performed: upstream's `SourceIntegrityCheckResultItem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    /// Empty when the check passed.
    pub problems: Vec<String>,
}

impl Check {
    /// Upstream's `AsError` text, when the check failed.
    pub fn error(&self) -> Option<String> {
        (!self.problems.is_empty()).then(|| {
            self.problems
                .iter()
                .map(|p| format!("{}: {p}", self.name))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }
}

/// What a GPG policy concluded about a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub check: Check,
    /// Deprecated `RevisionMetadata.signatureInfo`.
    pub signature_info: String,
    /// Deprecated `ManifestResponse.verifyResult`: gpg's output for the revision.
    pub verify_result: String,
}

static DISABLED_LOGGED: AtomicBool = AtomicBool::new(false);

impl Cache {
    /// Checks `target` of `repo` against the policy of `policies` that applies to it.
    /// `None` when none applies, its mode is `none`, or GnuPG is off (`keyring` is `None`:
    /// `ARGOCD_GPG_ENABLED=false`). Errors, never a passing check, when the policies are
    /// ambiguous or gpg fails.
    pub async fn integrity(
        &self,
        repo: &Repo,
        target: Target<'_>,
        policies: &Policies,
        keyring: Option<&Keyring>,
    ) -> Result<Option<Outcome>, Error> {
        let url = repo.remote.url.as_str();
        let Some(gpg) = select(policies, url)? else {
            return Ok(None);
        };
        let deep = match gpg.mode.as_str() {
            "none" => return Ok(None),
            "head" => false,
            "strict" => true,
            other => {
                return Err(Error::invalid(
                    url,
                    format!("unknown GPG mode {other:?} configured for GIT source integrity"),
                ))
            }
        };
        let Some(keyring) = keyring else {
            if !DISABLED_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::warn!("SourceIntegrity criteria for git+gpg declared, but it is turned off by ARGOCD_GPG_ENABLED");
            }
            return Ok(None);
        };
        let signatures = self.verified(repo, target, deep, keyring).await?;
        Ok(Some(judge(gpg, target.sha, &signatures)))
    }

    /// gpg's output for `target` alone: the deprecated `verifyResult` for a request with
    /// `verifySignature` and no policy, which older controllers judge themselves. Empty when
    /// the revision is not signed.
    pub async fn verify_result(
        &self,
        repo: &Repo,
        target: Target<'_>,
        keyring: &Keyring,
    ) -> Result<String, Error> {
        Ok(self.verified(repo, target, false, keyring).await?.legacy)
    }

    /// [`Cache::signatures`] with the keyring's current generation, remembered for a while:
    /// a remembered answer is served only to credentials that may read the repository.
    async fn verified(
        &self,
        repo: &Repo,
        target: Target<'_>,
        deep: bool,
        keyring: &Keyring,
    ) -> Result<Signatures, Error> {
        let ring = ring(keyring, repo.remote.url.as_str()).await?;
        let seen = (
            ring.home().to_path_buf(),
            repo.remote.key.clone(),
            target.sha.to_ascii_lowercase(),
            target.tag.map(str::to_string),
            deep,
        );
        if let Some(signatures) = keyring.recall(&seen) {
            self.authorize(repo).await?;
            return Ok(signatures);
        }
        let signatures = self.signatures(repo, target, deep, &ring).await?;
        keyring.remember(seen, &signatures);
        Ok(signatures)
    }
}

async fn ring(keyring: &Keyring, url: &str) -> Result<std::sync::Arc<crate::Ring>, Error> {
    keyring
        .ring()
        .await
        .map_err(|e| Error::internal(url, format!("GnuPG keyring: {e}")))
}

/// The GPG part of the one policy whose repository globs take `url`; an error when several
/// do (upstream fails every such repository rather than pick one).
fn select<'p>(policies: &'p Policies, url: &str) -> Result<Option<&'p Gpg>, Error> {
    let mut found = Vec::new();
    for policy in &policies.0 {
        let mut include = false;
        for pattern in &policy.repos {
            match pattern.strip_prefix('!') {
                Some(excluded) if matches(excluded, url) => {
                    include = false;
                    break;
                }
                Some(_) => {}
                None => include |= matches(pattern, url),
            }
        }
        if include {
            found.push(policy);
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => {
            if one.gpg.is_none() {
                tracing::warn!(repos = ?one.repos, "no verification configured for a SourceIntegrity policy");
            }
            Ok(one.gpg.as_ref())
        }
        many => Err(Error::invalid(
            url,
            format!(
                "multiple ({}) git source integrity policies found for repo URL: {url}",
                many.len()
            ),
        )),
    }
}

/// Upstream's `glob.Match` (gobwas without separators: `*` also matches `/`); an invalid
/// pattern matches nothing, as there.
fn matches(pattern: &str, url: &str) -> bool {
    // `**` is `*` here; globset would read it as a path wildcard.
    let mut collapsed = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '*' && collapsed.ends_with('*')) {
            collapsed.push(c);
        }
    }
    GlobBuilder::new(&collapsed)
        .literal_separator(false)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(url))
}

/// The 16-hex key ID of an allowed key: a fingerprint's last 16 digits, or itself.
fn key_id(key: &str) -> Option<String> {
    let hex = key.bytes().all(|b| b.is_ascii_hexdigit());
    match key.len() {
        40 if hex => Some(key[24..].to_ascii_uppercase()),
        16 if hex => Some(key.to_ascii_uppercase()),
        _ => None,
    }
}

/// Upstream's `describeProblems` and legacy descriptions.
fn judge(gpg: &Gpg, sha: &str, signatures: &Signatures) -> Outcome {
    let allowed: Vec<String> = gpg
        .keys
        .iter()
        .filter_map(|k| {
            let id = key_id(k);
            if id.is_none() {
                tracing::error!("'{k}' is not a valid GnuPG key ID");
            }
            id
        })
        .collect();
    let mut problems = Vec::new();
    let mut reported = Vec::new();
    for s in &signatures.list {
        let Some(problem) = problem(&allowed, s) else {
            continue;
        };
        // One problem per key among commits: a tag, or an unsigned commit, is always reported.
        if !s.key.is_empty() && crate::revision::is_sha(&s.revision) {
            if reported.contains(&s.key) {
                continue;
            }
            reported.push(s.key.clone());
        }
        problems.push(problem);
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    let signature_info = legacy(&allowed, sha, &signatures.legacy)
        .or_else(|| signatures.list.first().map(described))
        .unwrap_or_default();
    Outcome {
        check: Check {
            name: CHECK,
            problems,
        },
        signature_info,
        verify_result: signatures.legacy.clone(),
    }
}

fn problem(allowed: &[String], s: &Signature) -> Option<String> {
    let what = format!(
        "Failed verifying revision {} by '{}'",
        s.revision, s.identity
    );
    if s.verdict != Verdict::Good {
        return Some(format!("{what}: {} (key_id={})", s.verdict, s.key));
    }
    if allowed.contains(&s.key) {
        return None;
    }
    Some(format!(
        "{what}: signed with unallowed key (key_id={})",
        s.key
    ))
}

/// The legacy description of the newest signature when gpg's own output raised nothing.
fn described(s: &Signature) -> String {
    let result = match s.verdict {
        Verdict::Unsigned => return "Revision is not signed.".to_string(),
        Verdict::Good => "Good",
        Verdict::Bad => "Bad",
        _ => "Invalid",
    };
    format!("{result} signature from {} key {}", s.identity, s.key)
}

/// Upstream's `VerifyGnuPGSignature` on gpg's human-readable output: the message of the
/// condition it raises, if any.
fn legacy(allowed: &[String], revision: &str, output: &str) -> Option<String> {
    if output.is_empty() {
        return Some(format!(
            "Target revision {revision} in Git is not signed, but a signature is required"
        ));
    }
    match parse_human(output) {
        Human::Good { cipher, key } => (!allowed.contains(&key)).then(|| {
            format!("Found good signature made with {cipher} key {key}, but this key is not allowed in AppProject")
        }),
        Human::Invalid {
            cipher,
            key,
            message,
        } => Some(format!(
            "Found signature made with {cipher} key {key}, but verification result was invalid: '{message}'"
        )),
        Human::Bad | Human::Unknown => Some(format!(
            "Could not verify commit signature on revision '{revision}', check logs for more information."
        )),
    }
}

enum Human {
    Good {
        cipher: String,
        key: String,
    },
    Invalid {
        cipher: String,
        key: String,
        message: String,
    },
    Bad,
    Unknown,
}

/// Upstream's `parseGitCommitVerification`, on its first signature.
fn parse_human(output: &str) -> Human {
    let mut lines = output.lines().take(40);
    if !lines
        .by_ref()
        .any(|l| l.starts_with("gpg: Signature made "))
    {
        return Human::Unknown;
    }
    // `gpg:                using RSA key <fingerprint>`
    let Some((cipher, key)) = lines.next().and_then(|l| {
        let rest = l
            .strip_prefix("gpg:")?
            .trim_start()
            .strip_prefix("using ")?;
        let (cipher, key) = rest.split_once(" key ")?;
        Some((cipher.to_string(), key_id(key.trim())?))
    }) else {
        return Human::Unknown;
    };
    let Some(line) = lines.find(|l| {
        !l.strip_prefix("gpg:")
            .is_some_and(|r| r.trim_start().starts_with("issuer "))
    }) else {
        return Human::Unknown;
    };
    if line.starts_with("gpg: Can't check signature: ") {
        return Human::Invalid {
            cipher,
            key,
            message: line.to_string(),
        };
    }
    let Some(state) = line
        .strip_prefix("gpg: ")
        .and_then(|r| r.split_once(" signature from \""))
        .map(|(state, _)| state.to_ascii_lowercase())
    else {
        return Human::Unknown;
    };
    match state.as_str() {
        "good" => Human::Good { cipher, key },
        "bad" => Human::Bad,
        _ => Human::Invalid {
            cipher,
            key,
            message: "Success verifying the commit signature.".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(repos: &[&str], mode: &str) -> Policy {
        Policy {
            repos: repos.iter().map(|r| r.to_string()).collect(),
            gpg: Some(Gpg {
                mode: mode.into(),
                keys: vec!["DD88154A662E6BE2B4F3215E663427813AA7BB1E".into()],
            }),
        }
    }

    #[test]
    fn the_one_matching_policy_applies() {
        let url = "https://github.com/org/app.git";
        let p = Policies(vec![
            policy(
                &["https://github.com/*", "!https://github.com/org/app*"],
                "head",
            ),
            policy(&["https://github.com/org/**"], "strict"),
        ]);
        assert_eq!(select(&p, url).unwrap().unwrap().mode, "strict");
        assert!(select(&p, "https://gitlab.com/x").unwrap().is_none());
        let both = Policies(vec![policy(&["*"], "head"), policy(&["https://*"], "head")]);
        let err = select(&both, url).unwrap_err().to_string();
        assert!(err.contains("multiple (2) git source integrity policies found for repo URL: https://github.com/org/app.git"), "{err}");
    }

    fn sig(revision: &str, verdict: Verdict, key: &str) -> Signature {
        Signature {
            revision: revision.into(),
            verdict,
            key: key.into(),
            date: "d".into(),
            identity: "A <a@x>".into(),
        }
    }

    #[test]
    fn problems_read_as_upstream() {
        let sha = "a".repeat(40);
        let gpg = policy(&["*"], "strict").gpg.unwrap();
        let good = "gpg: Signature made Mon Nov 30 03:58:15 2026 UTC\n\
            gpg:                using EDDSA key DD88154A662E6BE2B4F3215E663427813AA7BB1E\n\
            gpg: Good signature from \"Alice <alice@x>\" [ultimate]";
        let list = vec![
            sig(&sha, Verdict::Good, "663427813AA7BB1E"),
            sig(&"b".repeat(40), Verdict::Unsigned, ""),
            sig(&"c".repeat(40), Verdict::MissingKey, "1111111111111111"),
            sig(&"d".repeat(40), Verdict::MissingKey, "1111111111111111"),
        ];
        let out = judge(
            &gpg,
            &sha,
            &Signatures {
                list,
                legacy: good.into(),
            },
        );
        assert_eq!(out.check.problems, [
            format!("Failed verifying revision {} by 'A <a@x>': unsigned (key_id=)", "b".repeat(40)),
            format!("Failed verifying revision {} by 'A <a@x>': signed with key not in keyring (key_id=1111111111111111)", "c".repeat(40)),
        ]);
        assert!(out
            .check
            .error()
            .unwrap()
            .starts_with("GIT/GPG: Failed verifying revision"));
        assert_eq!(
            out.signature_info,
            "Good signature from A <a@x> key 663427813AA7BB1E"
        );

        let other = Gpg {
            mode: "head".into(),
            keys: vec!["0000000000000000".into()],
        };
        let list = vec![sig(&sha, Verdict::Good, "663427813AA7BB1E")];
        let out = judge(
            &other,
            &sha,
            &Signatures {
                list,
                legacy: good.into(),
            },
        );
        assert_eq!(out.check.problems, [format!("Failed verifying revision {sha} by 'A <a@x>': signed with unallowed key (key_id=663427813AA7BB1E)")]);
        assert_eq!(out.signature_info, "Found good signature made with EDDSA key 663427813AA7BB1E, but this key is not allowed in AppProject");

        let list = vec![sig(&sha, Verdict::Unsigned, "")];
        let out = judge(
            &gpg,
            &sha,
            &Signatures {
                list,
                legacy: String::new(),
            },
        );
        assert_eq!(
            out.signature_info,
            format!("Target revision {sha} in Git is not signed, but a signature is required")
        );

        let missing = "gpg: Signature made Mon Nov 30 03:58:15 2026 UTC\n\
            gpg:                using EDDSA key DD88154A662E6BE2B4F3215E663427813AA7BB1E\n\
            gpg: Can't check signature: No public key";
        let list = vec![sig(&sha, Verdict::MissingKey, "663427813AA7BB1E")];
        let out = judge(
            &gpg,
            &sha,
            &Signatures {
                list,
                legacy: missing.into(),
            },
        );
        assert_eq!(out.signature_info, "Found signature made with EDDSA key 663427813AA7BB1E, but verification result was invalid: 'gpg: Can't check signature: No public key'");
    }

    #[test]
    fn key_ids() {
        assert_eq!(
            key_id("DD88154A662E6BE2B4F3215E663427813AA7BB1E").unwrap(),
            "663427813AA7BB1E"
        );
        assert_eq!(key_id("663427813aa7bb1e").unwrap(), "663427813AA7BB1E");
        assert!(key_id("0x663427813AA7BB1E").is_none());
    }
}
