//! GnuPG signatures of a revision, as upstream's `LsSignatures`: the annotated tag's when the
//! revision is one, then the commit's (`head`) or every commit's back to the most recent
//! correctly signed seal commits (`strict`), each with gpg's verdict against the [`Ring`].
//!
//! Commits are verified by git itself (`rev-list` with `%G?`/`%GK`, running gpg with the
//! ring as `GNUPGHOME`), as upstream. A tag's signature, and the human-readable gpg output
//! upstream passes on as `verifyResult`/`signatureInfo`, come from gpg run here on the tag or
//! commit object split into payload and signature (what `git verify-tag`/`verify-commit` do),
//! because the git runner keeps a successful command's stderr to itself.

use std::path::Path;

use crate::keyring::{self, Ring};
use crate::run::{Call, Git};
use crate::{classify, Cache, Error, Repo};

/// gpg's verdict on one signature, displayed with upstream's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Good,
    Bad,
    Untrusted,
    ExpiredSignature,
    ExpiredKey,
    RevokedKey,
    MissingKey,
    Unsigned,
}

impl Verdict {
    /// From git's `%G?` letter.
    fn from_letter(letter: &str) -> Option<Self> {
        Some(match letter {
            "G" => Self::Good,
            "B" => Self::Bad,
            "U" => Self::Untrusted,
            "X" => Self::ExpiredSignature,
            "Y" => Self::ExpiredKey,
            "R" => Self::RevokedKey,
            "E" => Self::MissingKey,
            "N" => Self::Unsigned,
            _ => return None,
        })
    }

    /// From a gpg status keyword.
    fn from_status(word: &str) -> Option<Self> {
        Some(match word {
            "GOODSIG" => Self::Good,
            "BADSIG" => Self::Bad,
            "EXPSIG" => Self::ExpiredSignature,
            "EXPKEYSIG" => Self::ExpiredKey,
            "REVKEYSIG" => Self::RevokedKey,
            "ERRSIG" => Self::MissingKey,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Good => "signed",
            Self::Bad => "bad signature",
            Self::Untrusted => "signed with untrusted key",
            Self::ExpiredSignature => "expired signature",
            Self::ExpiredKey => "signed with expired key",
            Self::RevokedKey => "signed with revoked key",
            Self::MissingKey => "signed with key not in keyring",
            Self::Unsigned => "unsigned",
        })
    }
}

/// One signed (or unsigned) object: upstream's `RevisionSignatureInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The commit SHA, or the tag's name.
    pub revision: String,
    pub verdict: Verdict,
    /// Long key ID (16 hex, upper case) of the signing key; empty when unsigned.
    pub key: String,
    pub date: String,
    /// `Name <email>` (a tagger as upstream prints it: `Name "<email>"`).
    pub identity: String,
}

/// The signatures of a revision, most recent first, and gpg's human-readable output for the
/// revision itself (empty when it is not signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signatures {
    pub list: Vec<Signature>,
    pub legacy: String,
}

/// The revision being verified: the commit, and the tag it was named by, if any.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// Full commit SHA the revision resolved to.
    pub sha: &'a str,
    /// Tag name (without `refs/tags/`) the revision resolved through.
    pub tag: Option<&'a str>,
}

/// Trailer marking a seal commit, as upstream (matched ignoring case).
const SEAL: &str = "--grep=Argocd-gpg-seal:";
const FORMAT: &str = "--pretty=format:%H%x00%G?%x00%GK%x00%aD%x00%an <%ae>";

impl Cache {
    /// The signatures of `target` in `repo`, verified against `ring`: `deep` is upstream's
    /// `strict` mode. Fails (never answers "unsigned") when gpg cannot run or answers
    /// unexpectedly.
    pub async fn signatures(
        &self,
        repo: &Repo,
        target: Target<'_>,
        deep: bool,
        ring: &Ring,
    ) -> Result<Signatures, Error> {
        let url = repo.remote.url.as_str();
        let (mirror, sha) = self.verifiable(repo, target.sha, target.tag).await?;
        let sha = sha.as_str();
        let run = |args: Vec<String>| run(self.git(), &mirror, ring, url, args);
        let mut list = Vec::new();
        let annotated = match target.tag {
            Some(tag) => {
                let tag_ref = format!("refs/tags/{tag}");
                let kind = run(strings(&["cat-file", "-t", "--end-of-options", &tag_ref])).await?;
                (kind.trim_ascii() == b"tag").then_some(tag_ref)
            }
            None => None,
        };
        let object = annotated.as_deref().unwrap_or(sha);
        let legacy = self.human(repo, &mirror, object, ring).await?;
        if let (Some(tag_ref), Some(tag)) = (&annotated, target.tag) {
            let info = run(strings(&[
                "for-each-ref",
                "--format=%(taggerdate),%(taggername) \"%(taggeremail)\"",
                tag_ref,
            ]))
            .await?;
            let info = String::from_utf8_lossy(&info);
            let (date, identity) = info.trim_end().split_once(',').unwrap_or((&info, ""));
            list.push(Signature {
                revision: tag.to_string(),
                verdict: legacy.verdict,
                key: legacy.key.clone(),
                date: date.to_string(),
                identity: identity.to_string(),
            });
            if !deep {
                return Ok(Signatures {
                    list,
                    legacy: legacy.text,
                });
            }
        }
        let mut args: Vec<String> = vec![
            "rev-list".into(),
            FORMAT.into(),
            "--no-commit-header".into(),
        ];
        if deep {
            let seals = run(strings(&[
                "rev-list",
                "--pretty=format:%G?,%H",
                "--no-commit-header",
                SEAL,
                "--regexp-ignore-case",
                "--end-of-options",
                sha,
            ]))
            .await?;
            args.extend(filter(sha, &String::from_utf8_lossy(&seals)));
        } else {
            args.extend([sha.to_string(), "-1".into(), "--".into()]);
        }
        let out = run(args).await?;
        for line in String::from_utf8_lossy(&out).lines() {
            let signature = commit_line(line).ok_or_else(|| {
                Error::internal(url, format!("unexpected git rev-list output {line:?}"))
            })?;
            list.push(signature);
        }
        if list.is_empty() {
            return Err(Error::internal(url, format!("no commits listed for {sha}")));
        }
        Ok(Signatures {
            list,
            legacy: legacy.text,
        })
    }

    /// gpg run here on `object` (a commit SHA or `refs/tags/…`): verdict, key and the human
    /// output `git verify-commit`/`verify-tag` would print.
    async fn human(
        &self,
        repo: &Repo,
        mirror: &Path,
        object: &str,
        ring: &Ring,
    ) -> Result<Human, Error> {
        let url = repo.remote.url.as_str();
        let kind = if object.starts_with("refs/tags/") {
            "tag"
        } else {
            "commit"
        };
        let raw = self
            .git()
            .run(
                Call::new()
                    .git_dir(mirror)
                    .args(["cat-file", kind, "--end-of-options", object]),
            )
            .await
            .map_err(|f| classify::local(url, "cat-file", f))?;
        let split = match kind {
            "tag" => split_tag(&raw),
            _ => split_commit(&raw),
        };
        let Some((payload, signature)) = split else {
            return Ok(Human {
                verdict: Verdict::Unsigned,
                key: String::new(),
                text: String::new(),
            });
        };
        let gpg_failed =
            |e: String| Error::internal(url, format!("GnuPG verification of {object}: {e}"));
        // git's way: the signature in a file, the signed payload on stdin.
        let home = ring.home().to_path_buf();
        let dir = tokio::task::spawn_blocking(move || {
            let dir = tempfile::Builder::new()
                .prefix("verify-")
                .tempdir_in(home)?;
            std::fs::write(dir.path().join("sig"), signature)?;
            Ok::<_, std::io::Error>(dir)
        })
        .await
        .map_err(|e| gpg_failed(e.to_string()))?
        .map_err(|e| gpg_failed(e.to_string()))?;
        let sig = dir.path().join("sig").to_string_lossy().into_owned();
        let out = keyring::gpg(
            ring.program(),
            ring.home(),
            &["--status-fd", "1", "--verify", "--", &sig, "-"],
            &payload,
        )
        .await;
        let _ = tokio::task::spawn_blocking(move || drop(dir)).await;
        let out = out.map_err(gpg_failed)?;
        let (verdict, key) = status(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
            gpg_failed(format!(
                "no verdict from gpg (exit {}): {}",
                out.status,
                keyring::last_line(&out.stderr)
            ))
        })?;
        Ok(Human {
            verdict,
            key,
            text: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        })
    }
}

/// Runs git in `mirror` with `ring` as gpg's home.
async fn run(
    git: &Git,
    mirror: &Path,
    ring: &Ring,
    url: &str,
    args: Vec<String>,
) -> Result<Vec<u8>, Error> {
    let op = if args.first().is_some_and(|a| a == "rev-list") {
        "rev-list"
    } else {
        "verify"
    };
    let program = format!("gpg.program={}", ring.program().display());
    let call = Call::new().git_dir(mirror).args(["-c", &program]);
    git.run(call.env("GNUPGHOME", ring.home()).args(args))
        .await
        .map_err(|f| classify::local(url, op, f))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

struct Human {
    verdict: Verdict,
    key: String,
    text: String,
}

/// Upstream's seal filter: the commit alone when it is the newest correctly signed seal, else
/// its history stopping at (and including) those seals, else all of it.
fn filter(sha: &str, seals: &str) -> Vec<String> {
    let seals: Vec<&str> = seals.lines().filter_map(|l| l.strip_prefix("G,")).collect();
    match seals.first() {
        None => vec![sha.into(), "--".into()],
        Some(first) if *first == sha => vec![sha.into(), "-1".into(), "--".into()],
        Some(_) => {
            let mut args = vec!["--boundary".to_string(), sha.to_string(), "--not".into()];
            args.extend(seals.iter().map(|s| s.to_string()));
            args.push("--".into());
            args
        }
    }
}

/// One `FORMAT` line of `git rev-list`.
fn commit_line(line: &str) -> Option<Signature> {
    let mut fields = line.split('\0');
    let revision = fields.next()?.to_string();
    let verdict = Verdict::from_letter(fields.next()?)?;
    let key = fields.next()?.to_ascii_uppercase();
    let date = fields.next()?.to_string();
    let identity = fields.next()?.to_string();
    let keyed = verdict != Verdict::Unsigned;
    // Upstream's `newRevisionSignatureInfo` checks: a key exactly when signed.
    if revision.is_empty() || keyed != keyring::is_key_id(&key) || (!keyed && !key.is_empty()) {
        return None;
    }
    Some(Signature {
        revision,
        verdict,
        key,
        date,
        identity,
    })
}

/// The first verdict in gpg's status output and its key ID, as upstream's
/// `evaluateGpgSignStatus`.
fn status(out: &str) -> Option<(Verdict, String)> {
    out.lines().find_map(|line| {
        let mut words = line.strip_prefix("[GNUPG:] ")?.split(' ');
        let verdict = Verdict::from_status(words.next()?)?;
        let key = words.next()?;
        (!key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| (verdict, long_id(key)))
    })
}

/// The 16-hex key ID of a key ID or fingerprint.
fn long_id(key: &str) -> String {
    key[key.len().saturating_sub(16)..].to_ascii_uppercase()
}

/// A tag object split into the signed payload and the armored signature after it: at the
/// last line that starts a signature, as git's `parse_signed_buffer`.
fn split_tag(raw: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
    let at = (0..raw.len())
        .rev()
        .find(|&i| (i == 0 || raw[i - 1] == b'\n') && raw[i..].starts_with(BEGIN))?;
    Some((raw[..at].to_vec(), raw[at..].to_vec()))
}

/// A commit object split into the payload git signs (the object without its `gpgsig`
/// header) and the signature (that header's value, continuation lines unindented).
fn split_commit(raw: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let headers_end = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(raw.len(), |p| p + 1);
    let (headers, body) = raw.split_at(headers_end);
    let mut payload = Vec::with_capacity(raw.len());
    let mut signature = Vec::new();
    let mut in_sig = false;
    for line in headers.split_inclusive(|&b| b == b'\n') {
        if let Some(value) = line.strip_prefix(b"gpgsig ") {
            in_sig = true;
            signature.extend_from_slice(value);
        } else if in_sig && line.first() == Some(&b' ') {
            signature.extend_from_slice(&line[1..]);
        } else {
            in_sig = false;
            payload.extend_from_slice(line);
        }
    }
    payload.extend_from_slice(body);
    (!signature.is_empty()).then_some((payload, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rev_list_lines() {
        let s = commit_line("abc\x00G\x00663427813aa7bb1e\x00Mon, 30 Nov 2026\x00A <a@x>").unwrap();
        assert_eq!(
            (s.verdict, s.key.as_str()),
            (Verdict::Good, "663427813AA7BB1E")
        );
        assert_eq!(
            commit_line("abc\x00N\x00\x00d\x00A <a@x>").unwrap().verdict,
            Verdict::Unsigned
        );
        assert!(
            commit_line("abc\x00N\x00663427813AA7BB1E\x00d\x00a").is_none(),
            "unsigned with a key"
        );
        assert!(
            commit_line("abc\x00G\x00\x00d\x00a").is_none(),
            "signed without a key"
        );
        assert!(commit_line("abc\x00?\x00\x00d\x00a").is_none());
    }

    #[test]
    fn status_lines() {
        let out = "[GNUPG:] NEWSIG\n[GNUPG:] KEY_CONSIDERED DD88 0\n\
            [GNUPG:] GOODSIG 663427813AA7BB1E Alice <alice@x>\n[GNUPG:] TRUST_ULTIMATE 0 pgp\n";
        assert_eq!(
            status(out),
            Some((Verdict::Good, "663427813AA7BB1E".into()))
        );
        let out = "[GNUPG:] ERRSIG 663427813AA7BB1E 22 10 00 1796011095 9 DD88154A662E6BE2B4F3215E663427813AA7BB1E\n";
        assert_eq!(status(out).unwrap().0, Verdict::MissingKey);
        assert_eq!(status("[GNUPG:] NODATA 1\n"), None);
    }

    #[test]
    fn commit_objects_split_like_git() {
        let raw = b"tree t\nparent p\nauthor a\ncommitter c\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\nencoding x\n\nmsg\n\nbody\n";
        let (payload, sig) = split_commit(raw).unwrap();
        assert_eq!(
            payload,
            b"tree t\nparent p\nauthor a\ncommitter c\nencoding x\n\nmsg\n\nbody\n"
        );
        assert_eq!(
            sig,
            b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
        );
        assert!(split_commit(b"tree t\n\nmsg gpgsig x\n").is_none());
        let (payload, sig) =
            split_tag(b"object o\ntag v1\n\nmsg\n-----BEGIN PGP SIGNATURE-----\nx\n").unwrap();
        assert_eq!(payload, b"object o\ntag v1\n\nmsg\n");
        assert!(sig.starts_with(b"-----BEGIN"));
        assert!(split_tag(b"object o\n\nmsg\n").is_none());
        // A signature block quoted in the message is payload, as for git.
        let quoted =
            b"object o\n\n-----BEGIN PGP SIGNATURE-----\nq\n-----BEGIN PGP SIGNATURE-----\ns\n";
        let (payload, sig) = split_tag(quoted).unwrap();
        assert_eq!(payload, b"object o\n\n-----BEGIN PGP SIGNATURE-----\nq\n");
        assert_eq!(sig, b"-----BEGIN PGP SIGNATURE-----\ns\n");
    }

    #[test]
    fn seals_bound_the_history() {
        assert_eq!(filter("a", ""), ["a", "--"]);
        assert_eq!(filter("a", "N,b\nG,a\n"), ["a", "-1", "--"]);
        assert_eq!(
            filter("a", "G,b\nG,c\n"),
            ["--boundary", "a", "--not", "b", "c", "--"]
        );
    }
}
