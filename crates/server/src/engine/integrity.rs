//! Source integrity at the engine: the request's AppProject policies (and the deprecated
//! `verifySignature`) checked against the commit a request resolved to, before anything from
//! that commit is answered. The verdicts are upstream's: GenerateManifest and
//! GetRevisionMetadata carry the `GIT/GPG` check (the controller refuses to sync on its
//! problems), GetGitFiles and GetGitDirectories refuse with its problems as the error.
//! Verification runs gpg against the keyring of `ARGOCD_GNUPGHOME`, rebuilt from
//! `ARGOCD_GPG_DATA_PATH` when the mounted keys change; any failure is an error, never a pass.

use std::path::PathBuf;

use repo_git::{Cache, Check, Keyring, Policies, Refresh, Target};
use repo_source::{Repo, Revision};

use crate::engine::Error;

/// GnuPG verification: off when `ARGOCD_GPG_ENABLED` is `false`/`no`, as upstream (policies
/// are then not checked, with a warning).
pub(crate) struct Integrity {
    keyring: Option<Keyring>,
}

/// The revision a request named and the commit it resolved to.
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) repo: &'a Repo,
    /// `None` when the request named a commit SHA (GetRevisionMetadata).
    pub(crate) revision: Option<(&'a Revision, &'a str)>,
    pub(crate) sha: &'a str,
}

/// What the check found, in upstream's response fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Verified {
    /// `sourceIntegrityResult`: `None` when no policy applied (no check performed).
    pub(crate) check: Option<Check>,
    /// Deprecated `RevisionMetadata.signatureInfo`.
    pub(crate) signature_info: String,
    /// Deprecated `ManifestResponse.verifyResult`: gpg's output for the revision.
    pub(crate) verify_result: String,
}

impl Verified {
    /// GetGitFiles/GetGitDirectories: a failed check refuses the request with upstream's text.
    pub(crate) fn refusal(&self) -> Result<(), Error> {
        match self.check.as_ref().and_then(Check::error) {
            Some(problems) => Err(Error::Unknown(problems)),
            None => Ok(()),
        }
    }
}

impl Integrity {
    /// `source` is `ARGOCD_GPG_DATA_PATH`, `home` `ARGOCD_GNUPGHOME` (prepared on first use).
    pub(crate) fn new(enabled: bool, source: PathBuf, home: PathBuf) -> Self {
        Self {
            keyring: enabled.then(|| Keyring::new(source, home)),
        }
    }

    /// Checks `subject` against `policies`; with `legacy` (the deprecated `verifySignature`)
    /// gpg's output for the revision is returned even when no policy applies, as older
    /// controllers judge it themselves.
    pub(crate) async fn check(
        &self,
        git: &Cache,
        subject: Subject<'_>,
        policies: &Policies,
        legacy: bool,
    ) -> Result<Verified, Error> {
        if policies.0.is_empty() && !(legacy && self.keyring.is_some()) {
            return Ok(Verified::default());
        }
        let tag = self.tag(git, subject).await?;
        let target = Target {
            sha: subject.sha,
            tag: tag.as_deref(),
        };
        let keyring = self.keyring.as_ref();
        if let Some(outcome) = git
            .integrity(subject.repo, target, policies, keyring)
            .await?
        {
            return Ok(Verified {
                check: Some(outcome.check),
                signature_info: outcome.signature_info,
                verify_result: outcome.verify_result,
            });
        }
        let verify_result = match (legacy, keyring) {
            (true, Some(keyring)) => git.verify_result(subject.repo, target, keyring).await?,
            _ => String::new(),
        };
        Ok(Verified {
            verify_result,
            ..Verified::default()
        })
    }

    /// The tag the revision resolved through, if any: its signature is the one verified
    /// (upstream checks an annotated tag's signature instead of its commit's).
    async fn tag(&self, git: &Cache, subject: Subject<'_>) -> Result<Option<String>, Error> {
        let Some((revision, prefix)) = subject.revision else {
            return Ok(None);
        };
        if revision.is_sha() {
            return Ok(None);
        }
        let resolved = git
            .resolve_with(subject.repo, revision, prefix, Refresh::Cached)
            .await?;
        let Some(tag) = resolved
            .reference
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/tags/"))
        else {
            return Ok(None);
        };
        if resolved.sha != subject.sha {
            return Err(Error::Unknown(format!(
                "{}: tag {tag:?} moved while its signature was being verified; retry",
                subject.repo.url()
            )));
        }
        Ok(Some(tag.to_string()))
    }
}
