//! Source integrity against real GnuPG: keys generated here (`gpg --batch --quick-gen-key`,
//! no passphrase, in a temporary GNUPGHOME), commits and tags signed with them by git, the
//! public keys "mounted" as the argocd-gpg-keys-cm files, and `Cache::integrity` judging.

use std::path::{Path, PathBuf};
use std::process::Command;

use repo_git::{Cache, Creds, Gpg, Keyring, Policies, Policy, Repo, Settings, Target};

/// Whether gpg and git run here: a missing tool fails under CI=true, else skips with the reason.
fn tools() -> bool {
    let ok = ["gpg", "git"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "gpg and git are needed (scripts/install-tools installs gnupg)"
        );
        eprintln!("skipping: gpg or git is missing (Debian: apt-get install gnupg git)");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The signers' side: a GNUPGHOME holding secret keys, and a repository they commit to.
struct Signers {
    home: PathBuf,
    repo: PathBuf,
    /// A gpg wrapper that signs at a fixed time in the past (for the expired key).
    past: PathBuf,
}

impl Signers {
    fn new(dir: &Path) -> Self {
        let home = dir.join("signers");
        std::fs::create_dir(&home).unwrap();
        run(Command::new("chmod").arg("700").arg(&home));
        let repo = dir.join("repo");
        run(Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .arg(&repo));
        let past = dir.join("gpg-past");
        std::fs::write(
            &past,
            "#!/bin/sh\nexec gpg --faked-system-time 20200101T120000! \"$@\"\n",
        )
        .unwrap();
        run(Command::new("chmod").arg("755").arg(&past));
        Self { home, repo, past }
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.home).env("LC_ALL", "C").args([
            "--batch",
            "--no-tty",
            "--passphrase",
            "",
        ]);
        c
    }

    /// A new signing key; its fingerprint.
    fn key(&self, uid: &str, extra: &[&str], expire: &str) -> String {
        run(self
            .gpg()
            .args(extra)
            .args(["--quick-gen-key", uid, "ed25519", "sign", expire]));
        let listing = run(self.gpg().args(["--with-colons", "--list-keys", uid]));
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|f| f.trim_end_matches(':').to_string())
            .expect("fingerprint")
    }

    fn revoke(&self, fpr: &str) {
        let cert =
            std::fs::read_to_string(self.home.join(format!("openpgp-revocs.d/{fpr}.rev"))).unwrap();
        // The stored certificate is disarmed with a leading colon.
        let cert = cert.replace(":-----BEGIN", "-----BEGIN");
        let file = self.home.join("revoke.asc");
        std::fs::write(&file, cert).unwrap();
        run(self.gpg().arg("--import").arg(&file));
    }

    /// Writes the public key as the ConfigMap mounts it: a file named by its key ID.
    fn publish(&self, fpr: &str, source: &Path) {
        let armored = run(self.gpg().args(["--armor", "--export", fpr]));
        std::fs::write(source.join(&fpr[24..]), armored).unwrap();
    }

    fn git(&self, signer: Option<&str>, program: Option<&Path>) -> Command {
        let mut c = Command::new("git");
        c.current_dir(&self.repo)
            .env("GNUPGHOME", &self.home)
            .args([
                "-c",
                "user.name=Alice",
                "-c",
                "user.email=alice@example.com",
            ]);
        if let Some(p) = program {
            c.arg("-c").arg(format!("gpg.program={}", p.display()));
        }
        if let Some(key) = signer {
            c.arg("-c").arg(format!("user.signingkey={key}"));
        }
        c
    }

    /// A commit, signed by `signer` when given; its SHA.
    fn commit(&self, message: &str, signer: Option<&str>) -> String {
        self.commit_with(message, signer, None)
    }

    fn commit_with(&self, message: &str, signer: Option<&str>, program: Option<&Path>) -> String {
        let sign = if signer.is_some() {
            "-S"
        } else {
            "--no-gpg-sign"
        };
        run(self
            .git(signer, program)
            .args(["commit", "-q", "--allow-empty", sign, "-m", message]));
        run(self.git(None, None).args(["rev-parse", "HEAD"]))
    }

    fn tag(&self, name: &str, signer: Option<&str>) {
        match signer {
            Some(key) => run(self
                .git(Some(key), None)
                .args(["tag", "-s", "-m", name, "-u", key, name])),
            None => run(self.git(None, None).args(["tag", "-a", "-m", name, name])),
        };
    }
}

struct World {
    _dir: tempfile::TempDir,
    signers: Signers,
    source: PathBuf,
    cache: Cache,
    keyring: Keyring,
    repo: Repo,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let signers = Signers::new(dir.path());
    let source = dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let cache_dir = dir.path().join("cache");
    let cache = Cache::new(Settings {
        allow_file: true,
        ..Settings::new(&cache_dir)
    })
    .unwrap();
    let keyring = Keyring::new(source.clone(), dir.path().join("gnupghome"));
    let repo = Repo::new(
        &format!("file://{}", signers.repo.display()),
        Creds::default(),
    )
    .unwrap();
    World {
        _dir: dir,
        signers,
        source,
        cache,
        keyring,
        repo,
    }
}

fn policies(mode: &str, keys: &[&str]) -> Policies {
    Policies(vec![Policy {
        repos: vec!["file://*".into()],
        gpg: Some(Gpg {
            mode: mode.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }),
    }])
}

impl World {
    /// The check's problems for `sha` (and `tag`), or the error.
    async fn problems(
        &self,
        sha: &str,
        tag: Option<&str>,
        policies: &Policies,
    ) -> Result<Vec<String>, String> {
        let outcome = self
            .cache
            .integrity(
                &self.repo,
                Target { sha, tag },
                policies,
                Some(&self.keyring),
            )
            .await
            .map_err(|e| e.to_string())?
            .expect("a policy applies");
        assert_eq!(outcome.check.name, "GIT/GPG");
        Ok(outcome.check.problems)
    }
}

#[tokio::test]
async fn commits_pass_only_when_signed_by_an_allowed_key_in_the_keyring() {
    if !tools() {
        return;
    }
    let w = world();
    let alice = w.signers.key("Alice <alice@example.com>", &[], "1y");
    let mallory = w.signers.key("Mallory <mallory@example.com>", &[], "1y");
    w.signers.publish(&alice, &w.source);
    let head = policies("head", &[&alice]);

    let signed = w.signers.commit("signed", Some(&alice));
    let outcome = w
        .cache
        .integrity(
            &w.repo,
            Target {
                sha: &signed,
                tag: None,
            },
            &head,
            Some(&w.keyring),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.check.problems.is_empty(), "{outcome:?}");
    assert_eq!(
        outcome.signature_info,
        format!(
            "Good signature from Alice <alice@example.com> key {}",
            &alice[24..]
        )
    );
    assert!(
        outcome
            .verify_result
            .contains("gpg: Good signature from \"Alice <alice@example.com>\" [ultimate]"),
        "{}",
        outcome.verify_result
    );

    // The deprecated verifyResult without any policy: gpg's own words.
    let target = Target {
        sha: &signed,
        tag: None,
    };
    let text = w
        .cache
        .verify_result(&w.repo, target, &w.keyring)
        .await
        .unwrap();
    assert!(
        text.contains("Good signature from \"Alice <alice@example.com>\""),
        "{text}"
    );

    // The same commit against a policy allowing another key only.
    let other = w.signers.key("Bob <bob@example.com>", &[], "1y");
    assert_eq!(
        w.problems(&signed, None, &policies("head", &[&other])).await.unwrap(),
        [format!("Failed verifying revision {signed} by 'Alice <alice@example.com>': signed with unallowed key (key_id={})", &alice[24..])]
    );

    let unsigned = w.signers.commit("unsigned", None);
    assert_eq!(
        w.problems(&unsigned, None, &head).await.unwrap(),
        [format!("Failed verifying revision {unsigned} by 'Alice <alice@example.com>': unsigned (key_id=)")]
    );

    // Signed, and allowed by the policy, but the key is not in the keyring.
    let foreign = w.signers.commit("foreign", Some(&mallory));
    let both = policies("head", &[&alice, &mallory]);
    assert_eq!(
        w.problems(&foreign, None, &both).await.unwrap(),
        [format!("Failed verifying revision {foreign} by 'Alice <alice@example.com>': signed with key not in keyring (key_id={})", &mallory[24..])]
    );

    // strict: the history back to the root is verified; head: only the commit itself.
    let tip = w.signers.commit("tip", Some(&alice));
    assert!(w.problems(&tip, None, &head).await.unwrap().is_empty());
    let strict = w
        .problems(&tip, None, &policies("strict", &[&alice]))
        .await
        .unwrap();
    assert_eq!(strict.len(), 2, "{strict:?}");
    assert!(
        strict[0].contains(&format!("{foreign} by"))
            && strict[1].contains(&format!("{unsigned} by")),
        "{strict:?}"
    );

    // A seal commit signed by an allowed key ends the history strict mode verifies.
    let seal = w
        .signers
        .commit("seal\n\nArgocd-gpg-seal: reviewed", Some(&alice));
    let after = w.signers.commit("after", Some(&alice));
    assert!(w
        .problems(&after, None, &policies("strict", &[&alice]))
        .await
        .unwrap()
        .is_empty());
    assert!(w
        .problems(&seal, None, &policies("strict", &[&alice]))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn expired_and_revoked_keys_are_refused() {
    if !tools() {
        return;
    }
    let w = world();
    // A key that expired in 2020, which signed while it was valid.
    let old = w.signers.key(
        "Old <old@example.com>",
        &["--faked-system-time", "20200101T000000!"],
        "2d",
    );
    let by_old = w
        .signers
        .commit_with("by an expired key", Some(&old), Some(&w.signers.past));
    let revoked = w.signers.key("Rev <rev@example.com>", &[], "1y");
    let by_revoked = w.signers.commit("by a later revoked key", Some(&revoked));
    w.signers.revoke(&revoked);
    w.signers.publish(&old, &w.source);
    w.signers.publish(&revoked, &w.source);
    let head = policies("head", &[&old, &revoked]);
    assert_eq!(
        w.problems(&by_old, None, &head).await.unwrap(),
        [format!("Failed verifying revision {by_old} by 'Alice <alice@example.com>': signed with expired key (key_id={})", &old[24..])]
    );
    assert_eq!(
        w.problems(&by_revoked, None, &head).await.unwrap(),
        [format!("Failed verifying revision {by_revoked} by 'Alice <alice@example.com>': signed with revoked key (key_id={})", &revoked[24..])]
    );
}

#[tokio::test]
async fn an_annotated_tag_is_verified_instead_of_its_commit() {
    if !tools() {
        return;
    }
    let w = world();
    let alice = w.signers.key("Alice <alice@example.com>", &[], "1y");
    w.signers.publish(&alice, &w.source);
    let head = policies("head", &[&alice]);
    let unsigned = w.signers.commit("unsigned commit", None);
    w.signers.tag("v1.0.0", Some(&alice));
    assert!(w
        .problems(&unsigned, Some("v1.0.0"), &head)
        .await
        .unwrap()
        .is_empty());
    // strict also walks the commits below the tag.
    let strict = w
        .problems(&unsigned, Some("v1.0.0"), &policies("strict", &[&alice]))
        .await
        .unwrap();
    assert_eq!(strict, [format!("Failed verifying revision {unsigned} by 'Alice <alice@example.com>': unsigned (key_id=)")]);

    let signed = w.signers.commit("signed commit", Some(&alice));
    w.signers.tag("v2.0.0", None);
    let problems = w.problems(&signed, Some("v2.0.0"), &head).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "Failed verifying revision v2.0.0 by 'Alice \"<alice@example.com>\"': unsigned"
        ),
        "{problems:?}"
    );

    // A tag that does not point at the commit verified is refused, not trusted.
    let err = w
        .problems(&unsigned, Some("v2.0.0"), &head)
        .await
        .unwrap_err();
    assert!(err.contains("no longer points at commit"), "{err}");
}

#[tokio::test]
async fn keys_follow_the_mounted_directory() {
    if !tools() {
        return;
    }
    let w = world();
    let alice = w.signers.key("Alice <alice@example.com>", &[], "1y");
    let head = policies("head", &[&alice]);
    let signed = w.signers.commit("signed", Some(&alice));
    let missing = format!("Failed verifying revision {signed} by 'Alice <alice@example.com>': signed with key not in keyring (key_id={})", &alice[24..]);
    assert_eq!(
        w.problems(&signed, None, &head).await.unwrap(),
        std::slice::from_ref(&missing)
    );
    w.signers.publish(&alice, &w.source);
    // A file that holds no key is skipped; the others are imported.
    std::fs::write(w.source.join("0123456789ABCDEF"), "not a key").unwrap();
    assert!(
        w.problems(&signed, None, &head).await.unwrap().is_empty(),
        "key added"
    );
    std::fs::remove_file(w.source.join(&alice[24..])).unwrap();
    assert_eq!(
        w.problems(&signed, None, &head).await.unwrap(),
        [missing],
        "key removed"
    );
}

#[tokio::test]
async fn policies_select_and_fail_closed() {
    if !tools() {
        return;
    }
    let w = world();
    let alice = w.signers.key("Alice <alice@example.com>", &[], "1y");
    w.signers.publish(&alice, &w.source);
    let signed = w.signers.commit("signed", Some(&alice));
    let target = Target {
        sha: &signed,
        tag: None,
    };
    async fn check_with(
        w: &World,
        target: Target<'_>,
        p: Policies,
        k: Option<&Keyring>,
    ) -> Result<Option<repo_git::Outcome>, repo_git::Error> {
        w.cache.integrity(&w.repo, target, &p, k).await
    }
    let check = |p, k| check_with(&w, target, p, k);
    // No policy for this URL, mode none, or GnuPG turned off: no check at all.
    let elsewhere = Policies(vec![Policy {
        repos: vec!["https://*".into()],
        ..policies("head", &[]).0[0].clone()
    }]);
    assert_eq!(check(elsewhere, Some(&w.keyring)).await.unwrap(), None);
    assert_eq!(
        check(policies("none", &[]), Some(&w.keyring))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        check(policies("head", &[&alice]), None).await.unwrap(),
        None
    );

    let err = check(policies("deep", &[&alice]), Some(&w.keyring))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown GPG mode \"deep\" configured for GIT source integrity"),
        "{err}"
    );
    let mut two = policies("head", &[&alice]);
    two.0.push(two.0[0].clone());
    let err = check(two, Some(&w.keyring)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("multiple (2) git source integrity policies found for repo URL: file://"),
        "{err}"
    );

    // gpg missing: an error naming the fix, never a passing (or "unsigned") check.
    let dir = tempfile::tempdir().unwrap();
    let broken = Keyring::new(w.source.clone(), dir.path().join("home"))
        .with_gpg(dir.path().join("no-such-gpg"));
    // ARGOCD_GNUPGHOME that cannot be created: the same.
    std::fs::write(dir.path().join("file"), "").unwrap();
    let unwritable = Keyring::new(w.source.clone(), dir.path().join("file/home"));
    let err = check(policies("head", &[&alice]), Some(&unwritable))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ARGOCD_GNUPGHOME"), "{err}");

    let err = check(policies("head", &[&alice]), Some(&broken))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("install GnuPG (Debian package gnupg) or set ARGOCD_GPG_ENABLED=false"),
        "{err}"
    );
}
