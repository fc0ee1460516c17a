//! GnuPG source integrity end to end (issue 14 item 6). Over mTLS against a file:// repository with commits signed by a key generated here
//! (`gpg --batch --quick-gen-key`, no passphrase): GenerateManifest reports upstream's
//! `GIT/GPG` check, GetRevisionMetadata its `signatureInfo`, GetGitFiles refuses, and
//! `ARGOCD_GPG_ENABLED=false` checks nothing.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ApplicationSource, SourceIntegrity, SourceIntegrityGit, SourceIntegrityGitPolicy,
    SourceIntegrityGitPolicyGpg, SourceIntegrityGitPolicyRepo,
};
use repos::*;
use tonic::Code;

/// gpg and git run here: a missing tool fails under CI=true, else the test skips.
fn gpg_available() -> bool {
    let ok = Command::new("gpg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "gpg is needed (scripts/install-tools installs gnupg)"
        );
        eprintln!("skipping: gpg is missing (Debian: apt-get install gnupg)");
    }
    ok
}

/// A signing key in its own GNUPGHOME, a gpg wrapper git signs through, and the public key
/// written as the argocd-gpg-keys-cm mount holds it. Returns (wrapper, fingerprint).
fn signer(dir: &Path, source: &Path) -> (PathBuf, String) {
    let home = dir.join("signer");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args(["--batch", "--no-tty", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    gpg(&[
        "--quick-gen-key",
        "Alice <alice@example.com>",
        "ed25519",
        "sign",
        "1y",
    ]);
    let fpr = gpg(&["--with-colons", "--list-keys"])
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .map(|f| f.trim_end_matches(':').to_string())
        .unwrap();
    std::fs::write(source.join(&fpr[24..]), gpg(&["--armor", "--export", &fpr])).unwrap();
    let wrapper = dir.join("sign-gpg");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nGNUPGHOME='{}' exec gpg \"$@\"\n",
            home.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    (wrapper, fpr)
}

fn policy(url: &str, keys: &[&str]) -> Option<SourceIntegrity> {
    Some(SourceIntegrity {
        git: Some(SourceIntegrityGit {
            policies: vec![SourceIntegrityGitPolicy {
                repos: vec![SourceIntegrityGitPolicyRepo {
                    url: Some(url.into()),
                }],
                gpg: Some(SourceIntegrityGitPolicyGpg {
                    mode: Some("head".into()),
                    keys: keys.iter().map(|k| k.to_string()).collect(),
                }),
            }],
        }),
    })
}

fn manifest_request(url: &str, integrity: Option<SourceIntegrity>) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: "main".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some("app".into()),
            target_revision: Some("main".into()),
            ..Default::default()
        }),
        project_name: "default".into(),
        project_source_repos: vec!["*".into()],
        verify_signature: integrity.is_some(),
        source_integrity: integrity,
        no_cache: true,
        ..Default::default()
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_commits_pass_and_unsigned_ones_are_reported_as_upstream() {
    if !gpg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("gpg-source");
    std::fs::create_dir(&source).unwrap();
    let (wrapper, fpr) = signer(dir.path(), &source);
    let (repo, url) = repository(dir.path(), "repo", &[("app/cm.yaml", CM)]);
    let program = format!("gpg.program={}", wrapper.display());
    let signing = format!("user.signingkey={fpr}");
    git(
        &repo,
        &[
            "-c",
            &program,
            "-c",
            &signing,
            "commit",
            "-q",
            "-S",
            "--allow-empty",
            "-m",
            "signed",
        ],
    );
    let signed = git(&repo, &["rev-parse", "HEAD"]);

    let mut engine = support::engine();
    engine.gpg = repo_server::config::Gpg {
        enabled: true,
        data_path: source.clone(),
        gnupg_home: dir.path().join("gnupghome"),
    };
    let (_server, mut c) = client_with(dir.path(), engine).await;
    let allowed = policy("file://*", &[&fpr]);

    let r = c
        .generate_manifest(manifest_request(&url, allowed.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.revision, signed);
    let checks = r
        .source_integrity_result
        .expect("a check was performed")
        .checks;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name.as_deref(), Some("GIT/GPG"));
    assert!(checks[0].problems.is_empty(), "{checks:?}");
    assert!(
        r.verify_result
            .contains("Good signature from \"Alice <alice@example.com>\""),
        "{}",
        r.verify_result
    );

    let m = c
        .get_revision_metadata(RepoServerRevisionMetadataRequest {
            repo: repo_message(&url),
            revision: signed.clone(),
            check_signature: true,
            source_integrity: allowed.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        m.signature_info.as_deref(),
        Some(
            format!(
                "Good signature from Test Author <author@example.com> key {}",
                &fpr[24..]
            )
            .as_str()
        )
    );

    // An unsigned commit on top: reported, with upstream's words, and refused by GetGitFiles.
    let unsigned = commit(&repo, &[("app/cm.yaml", &format!("{CM}data:\n  v: x\n"))]);
    let r = c
        .generate_manifest(manifest_request(&url, allowed.clone()))
        .await
        .unwrap()
        .into_inner();
    let problem = format!("Failed verifying revision {unsigned} by 'Test Author <author@example.com>': unsigned (key_id=)");
    assert_eq!(
        r.source_integrity_result.unwrap().checks[0].problems,
        [problem.as_str()]
    );
    let err = c
        .get_git_files(GitFilesRequest {
            repo: repo_message(&url),
            revision: "main".into(),
            path: "app/*.yaml".into(),
            source_integrity: allowed.clone(),
            verify_commit: true,
            no_revision_cache: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unknown, "{err:?}");
    assert_eq!(err.message(), format!("GIT/GPG: {problem}"));

    // A policy for other repositories checks nothing.
    let r = c
        .generate_manifest(manifest_request(&url, policy("https://*", &[&fpr])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.source_integrity_result, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gnupg_turned_off_checks_nothing() {
    if !gpg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_repo, url) = repository(dir.path(), "repo", &[("app/cm.yaml", CM)]);
    let mut engine = support::engine();
    engine.gpg.enabled = false;
    let (_server, mut c) = client_with(dir.path(), engine).await;
    let r = c
        .generate_manifest(manifest_request(&url, policy("*", &["0000000000000000"])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.source_integrity_result, None);
    assert_eq!(r.verify_result, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_that_cannot_be_built_fails_closed() {
    if !gpg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_repo, url) = repository(dir.path(), "repo", &[("app/cm.yaml", CM)]);
    // ARGOCD_GNUPGHOME under a regular file: no keyring can be made there.
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let mut engine = support::engine();
    engine.gpg = repo_server::config::Gpg {
        enabled: true,
        data_path: dir.path().join("gpg-source"),
        gnupg_home: file.join("home"),
    };
    std::fs::create_dir(&engine.gpg.data_path).unwrap();
    let (_server, mut c) = client_with(dir.path(), engine).await;
    let err = c
        .generate_manifest(manifest_request(
            &url,
            policy("file://*", &["0000000000000000"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert!(err.message().contains("GnuPG keyring"), "{err:?}");
    let err = c
        .get_revision_metadata(RepoServerRevisionMetadataRequest {
            repo: repo_message(&url),
            revision: "main".into(),
            check_signature: true,
            source_integrity: policy("file://*", &["0000000000000000"]),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
}
