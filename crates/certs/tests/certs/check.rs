//! `check` on init output mounted as Kubernetes would, and on each kind of broken input.

use std::path::Path;

use repo_certs::{check, Check, Finding, Level};
use repo_testkit::{Ca, Leaf};

use crate::common::mounted;

fn errors(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.level == Level::Error)
        .collect()
}

/// Asserts exactly one error, on `file`, containing `text`.
fn one_error(findings: &[Finding], file: &str, text: &str) {
    let errors = errors(findings);
    let shown: Vec<_> = findings.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{shown:#?}");
    assert!(errors[0].file.ends_with(file), "{shown:#?}");
    assert!(errors[0].message.contains(text), "{shown:#?}");
}

fn has(findings: &[Finding], level: Level, file: &str, text: &str) -> bool {
    findings
        .iter()
        .any(|f| f.level == level && f.file.ends_with(file) && f.message.contains(text))
}

fn with_tls(mtls: &Path, tls: &Path) -> Check {
    Check {
        tls_dir: Some(tls.to_path_buf()),
        ..Check::new(mtls)
    }
}

#[test]
fn init_output_mounted_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, tls) = mounted(dir.path());
    let findings = check(&with_tls(&mtls, &tls));
    assert!(errors(&findings).is_empty(), "{findings:#?}");
    assert!(
        findings.iter().all(|f| f.level == Level::Ok),
        "{findings:#?}"
    );
    assert!(has(
        &findings,
        Level::Ok,
        "client.key",
        "matches client.crt"
    ));
    assert!(has(
        &findings,
        Level::Ok,
        "client.crt",
        "accepted by client-ca.crt"
    ));
    assert!(has(&findings, Level::Ok, "client.crt", "allows clientAuth"));
    assert!(has(&findings, Level::Ok, "server-ca.crt", "is a CA"));
    assert!(has(&findings, Level::Ok, "tls.key", "matches tls.crt"));
    assert!(has(
        &findings,
        Level::Ok,
        "tls.crt",
        "valid for argocd-repo-server and chains to server-ca.crt"
    ));
    for name in ["argocd-repo-server.argocd.svc", "localhost", "127.0.0.1"] {
        let findings = check(&Check {
            server_name: name.into(),
            ..with_tls(&mtls, &tls)
        });
        assert!(errors(&findings).is_empty(), "{name}: {findings:#?}");
    }
}

#[test]
fn per_component_keys_secret_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    repo_certs::init(&repo_certs::Init {
        per_component: true,
        ..repo_certs::Init::new(&out)
    })
    .unwrap();
    let all = crate::common::secrets(&out.join("secrets-per-component-keys.yaml"));
    let mtls = crate::common::find(&all, "argocd-repo-server-mtls").mount(dir.path());
    let findings = check(&Check::new(&mtls));
    assert!(errors(&findings).is_empty(), "{findings:#?}");
    for short in ["server", "controller", "applicationset", "notifications"] {
        assert!(
            has(
                &findings,
                Level::Ok,
                &format!("{short}-client.crt"),
                "accepted by client-ca.crt"
            ),
            "{findings:#?}"
        );
    }
}

#[test]
fn client_pod_view_skips_the_chain_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, _) = mounted(dir.path());
    std::fs::remove_file(mtls.join("client-ca.crt")).unwrap();
    let findings = check(&Check::new(&mtls));
    assert!(errors(&findings).is_empty(), "{findings:#?}");
    assert!(
        has(&findings, Level::Note, "client.crt", "chain not verified"),
        "{findings:#?}"
    );
}

#[test]
fn client_from_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, _) = mounted(dir.path());
    Ca::new("someone-else")
        .issue(&Leaf::client("intruder"))
        .write(&mtls, "client");
    let findings = check(&Check::new(&mtls));
    one_error(
        &findings,
        "client.crt",
        "not signed by a CA in the client-CA bundle",
    );
}

#[test]
fn mismatched_key() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, _) = mounted(dir.path());
    let other = Ca::new("x").issue(&Leaf::client("x"));
    std::fs::write(mtls.join("client.key"), other.key).unwrap();
    let findings = check(&Check::new(&mtls));
    one_error(&findings, "client.key", "does not match");
}

#[test]
fn missing_key_or_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, _) = mounted(dir.path());
    let key = std::fs::read(mtls.join("client.key")).unwrap();
    std::fs::remove_file(mtls.join("client.key")).unwrap();
    one_error(
        &check(&Check::new(&mtls)),
        "client.key",
        "missing while client.crt exists",
    );

    std::fs::write(mtls.join("client.key"), key).unwrap();
    std::fs::remove_file(mtls.join("client.crt")).unwrap();
    one_error(
        &check(&Check::new(&mtls)),
        "client.crt",
        "missing while client.key exists",
    );
}

#[test]
fn unparsable_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, _) = mounted(dir.path());
    std::fs::write(mtls.join("server-ca.crt"), "not pem").unwrap();
    one_error(
        &check(&Check::new(&mtls)),
        "server-ca.crt",
        "no PEM certificate",
    );
}

/// A mount made with the testkit CA, so leaves can be expired or odd.
fn testkit_mount(dir: &Path, leaf: &Leaf) -> std::path::PathBuf {
    let ca = Ca::new("testkit-ca");
    let mtls = dir.join("mtls");
    std::fs::create_dir_all(&mtls).unwrap();
    std::fs::write(mtls.join("client-ca.crt"), &ca.cert).unwrap();
    std::fs::write(mtls.join("server-ca.crt"), &ca.cert).unwrap();
    ca.issue(leaf).write(&mtls, "client");
    mtls
}

#[test]
fn expired_client() {
    let dir = tempfile::tempdir().unwrap();
    let mtls = testkit_mount(dir.path(), &Leaf::client("old").expired());
    let findings = check(&Check::new(&mtls));
    one_error(&findings, "client.crt", "expired 1 day ago");
    // The chain itself is sound, and says so without repeating the date problem.
    assert!(
        has(
            &findings,
            Level::Ok,
            "client.crt",
            "chains to client-ca.crt"
        ),
        "{findings:#?}"
    );
}

#[test]
fn expired_client_from_another_ca_reports_both_problems() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, _) = mounted(dir.path());
    Ca::new("someone-else")
        .issue(&Leaf::client("old").expired())
        .write(&mtls, "client");
    let findings = check(&Check::new(&mtls));
    assert_eq!(errors(&findings).len(), 2, "{findings:#?}");
    assert!(
        has(&findings, Level::Error, "client.crt", "expired 1 day ago"),
        "{findings:#?}"
    );
    assert!(
        has(&findings, Level::Error, "client.crt", "not signed by a CA"),
        "{findings:#?}"
    );
}

#[test]
fn client_expiring_soon_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mtls = testkit_mount(dir.path(), &Leaf::client("soon"));
    let findings = check(&Check::new(&mtls));
    assert!(errors(&findings).is_empty(), "{findings:#?}");
    assert!(
        has(&findings, Level::Warning, "client.crt", "expires in 0 days"),
        "{findings:#?}"
    );
}

#[test]
fn client_without_client_auth() {
    let dir = tempfile::tempdir().unwrap();
    let mtls = testkit_mount(dir.path(), &Leaf::server());
    one_error(&check(&Check::new(&mtls)), "client.crt", "lacks clientAuth");
}

#[test]
fn ca_flagged_client() {
    let dir = tempfile::tempdir().unwrap();
    let mtls = testkit_mount(dir.path(), &Leaf::client("ca").ca_flagged());
    one_error(&check(&Check::new(&mtls)), "client.crt", "CA certificate");
}

#[test]
fn server_certificate_without_the_dialled_name() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, tls) = mounted(dir.path());
    let findings = check(&Check {
        server_name: "repo.example.com".into(),
        ..with_tls(&mtls, &tls)
    });
    one_error(&findings, "tls.crt", "not valid for repo.example.com");

    // No SAN at all.
    let ca = Ca::new("testkit-ca");
    std::fs::write(mtls.join("server-ca.crt"), &ca.cert).unwrap();
    let bare = Leaf {
        dns: vec![],
        ips: vec![],
        ..Leaf::server()
    };
    ca.issue(&bare).write(&tls, "tls");
    one_error(
        &check(&with_tls(&mtls, &tls)),
        "tls.crt",
        "no subjectAltName",
    );
}

#[test]
fn server_certificate_from_another_ca_or_with_the_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let (mtls, tls) = mounted(dir.path());
    let ca = Ca::new("testkit-ca");
    ca.issue(&Leaf::server()).write(&tls, "tls");
    one_error(&check(&with_tls(&mtls, &tls)), "tls.crt", "refuse it");

    let (_, fresh) = mounted(&dir.path().join("again"));
    std::fs::copy(fresh.join("tls.crt"), tls.join("tls.crt")).unwrap();
    let findings = check(&with_tls(&mtls, &tls));
    assert!(
        has(&findings, Level::Error, "tls.key", "does not match"),
        "{findings:#?}"
    );
}

#[test]
fn nothing_mounted() {
    let dir = tempfile::tempdir().unwrap();
    one_error(&check(&Check::new(dir.path())), "", "not mounted here");
    one_error(
        &check(&Check::new(dir.path().join("absent"))),
        "absent",
        "not a directory",
    );
}

#[test]
fn openssl_recipe_v1_client_is_accepted_but_v1_server_is_not() {
    if !repo_testkit::have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("recipe");
    std::fs::create_dir(&recipe).unwrap();
    repo_testkit::openssl_recipe(&recipe);
    let mtls = dir.path().join("mtls");
    let tls = dir.path().join("tls");
    std::fs::create_dir(&mtls).unwrap();
    std::fs::create_dir(&tls).unwrap();
    for (from, to) in [
        ("ca.crt", mtls.join("client-ca.crt")),
        ("ca.crt", mtls.join("server-ca.crt")),
        ("client.crt", mtls.join("client.crt")),
        ("client.key", mtls.join("client.key")),
        ("server.crt", tls.join("tls.crt")),
        ("server.key", tls.join("tls.key")),
    ] {
        std::fs::copy(recipe.join(from), to).unwrap();
    }
    let findings = check(&Check::new(&mtls));
    assert!(errors(&findings).is_empty(), "{findings:#?}");
    assert!(
        has(
            &findings,
            Level::Ok,
            "client.crt",
            "accepted by client-ca.crt"
        ),
        "{findings:#?}"
    );
    one_error(
        &check(&with_tls(&mtls, &tls)),
        "tls.crt",
        "no subjectAltName",
    );
}
