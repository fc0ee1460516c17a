//! The clap surface, as the `repoctl` binary mounts it.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use repo_certs::{run_to, Check, Command, Init, Inspect, KeyType};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    certs: Command,
}

fn parse(args: &[&str]) -> Result<Command, clap::Error> {
    Cli::try_parse_from(std::iter::once("certs").chain(args.iter().copied())).map(|c| c.certs)
}

#[test]
fn definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn defaults_match_the_constructors() {
    let Command::Init(init) = parse(&["init", "--out", "d"]).unwrap() else {
        panic!("not init")
    };
    assert_eq!(init, Init::new("d"));
    let Command::Check(check) = parse(&["check", "d"]).unwrap() else {
        panic!("not check")
    };
    assert_eq!(check, Check::new("d"));
}

#[test]
fn every_init_flag() {
    let Command::Init(init) = parse(&[
        "init",
        "--out",
        "d",
        "--namespace",
        "ns",
        "--dns-name",
        "a.example",
        "--dns-name",
        "10.0.0.1",
        "--per-component",
        "--key-type",
        "rsa4096",
        "--days",
        "30",
        "--force",
    ])
    .unwrap() else {
        panic!("not init")
    };
    assert_eq!(
        init,
        Init {
            namespace: "ns".into(),
            dns_names: vec!["a.example".into(), "10.0.0.1".into()],
            per_component: true,
            key_type: KeyType::Rsa4096,
            days: 30,
            force: true,
            ..Init::new("d")
        }
    );
    for (flag, value) in [
        ("ecdsa-p256", KeyType::EcdsaP256),
        ("rsa2048", KeyType::Rsa2048),
        ("ed25519", KeyType::Ed25519),
    ] {
        let Command::Init(init) = parse(&["init", "--out", "d", "--key-type", flag]).unwrap()
        else {
            panic!("not init")
        };
        assert_eq!(init.key_type, value);
    }
}

#[test]
fn bad_arguments_are_refused() {
    use clap::error::ErrorKind;
    for (args, kind) in [
        (&["init"][..], ErrorKind::MissingRequiredArgument),
        (
            &["init", "--out", "d", "--key-type", "dsa"],
            ErrorKind::InvalidValue,
        ),
        (
            &["init", "--out", "d", "--days", "0"],
            ErrorKind::ValueValidation,
        ),
        (&["inspect"], ErrorKind::MissingRequiredArgument),
        (&["check"], ErrorKind::MissingRequiredArgument),
    ] {
        let err = parse(args).unwrap_err();
        assert_eq!(err.kind(), kind, "{args:?}: {err}");
    }
    let Command::Inspect(inspect) = parse(&["inspect", "a.crt", "b.crt"]).unwrap() else {
        panic!("not inspect")
    };
    assert_eq!(
        inspect,
        Inspect {
            files: vec!["a.crt".into(), "b.crt".into()]
        }
    );
}

#[test]
fn help_documents_the_subject_names() {
    let help = Cli::command()
        .find_subcommand_mut("init")
        .unwrap()
        .render_long_help()
        .to_string();
    for cn in [
        repo_certs::CA_CN,
        repo_certs::SERVER_CN,
        repo_certs::CLIENT_CN,
    ] {
        assert!(help.contains(&format!("CN={cn}")), "{cn}: {help}");
    }
}

/// Runs a command line, returning its exit code and output.
fn run(args: &[&str]) -> Result<(ExitCode, String), repo_certs::Error> {
    let mut out = Vec::new();
    let code = run_to(parse(args).unwrap(), &mut out)?;
    Ok((code, String::from_utf8(out).unwrap()))
}

#[test]
fn run_prints_and_fails_only_when_check_finds_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let path = |name: &str| out.join(name).to_string_lossy().into_owned();

    let (code, text) = run(&["init", "--out", &path("")]).unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
    for line in [
        path("ca.crt"),
        path("client.key"),
        format!("kubectl apply -f {}", path("secrets.yaml")),
    ] {
        assert!(text.contains(&line), "{line} missing:\n{text}");
    }
    assert!(
        text.contains("rollout restart statefulset argocd-application-controller"),
        "{text}"
    );
    let err = run(&["init", "--out", &path("")]).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");

    let (code, text) = run(&["inspect", &path("ca.crt"), &path("tls.crt")]).unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(
        text.contains("ca.crt (certificate 1 of 1)")
            && text.contains("tls.crt (certificate 1 of 1)"),
        "{text}"
    );
    assert!(
        text.contains("subject:     CN=argocd-repo-server"),
        "{text}"
    );
    assert!(run(&["inspect", &path("missing.crt")])
        .unwrap_err()
        .to_string()
        .contains("missing.crt"));

    let (code, text) = run(&["check", &dir.path().to_string_lossy()]).unwrap();
    assert_eq!(code, ExitCode::FAILURE);
    assert!(text.ends_with("1 problem(s) found\n"), "{text}");

    let (mtls, tls) = crate::common::mounted(&dir.path().join("m"));
    let (code, text) = run(&[
        "check",
        &mtls.to_string_lossy(),
        "--tls-dir",
        &tls.to_string_lossy(),
    ])
    .unwrap();
    assert_eq!(code, ExitCode::SUCCESS, "{text}");
    assert!(
        text.lines()
            .all(|l| l.starts_with("ok ") || l == "no problems found"),
        "{text}"
    );
}

#[test]
fn per_component_next_steps_name_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let (_, text) = run(&[
        "init",
        "--out",
        &out,
        "--per-component",
        "--namespace",
        "ops",
    ])
    .unwrap();
    assert!(
        text.contains("secrets-per-component-keys.yaml")
            && text.contains("secrets-per-secret.yaml"),
        "{text}"
    );
    assert!(text.contains("argocd-server/client.key"), "{text}");
    assert!(text.contains("kubectl -n ops rollout restart"), "{text}");
}
