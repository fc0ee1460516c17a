//! MatchRepository, CheckPluginConfiguration and GetParametersAnnouncement.

use std::collections::HashMap;

use repo_proto::repository::ParameterAnnouncement;

use crate::support::{definition, env, pack, repo, Sidecar};

const GENERATE: &str = "  generate:\n    command: [sh, -c, 'echo kind: X']\n";

/// `(is_supported, is_discovery_enabled)` for each app of `repo`.
async fn matches(sidecar: &Sidecar, root: &std::path::Path, apps: &[&str]) -> Vec<(bool, bool)> {
    let plugin = sidecar.plugin().await;
    let mut out = Vec::new();
    for app in apps {
        let packed = pack(root, app).await;
        let r = plugin
            .match_repository(&packed, &env(&[("ARGOCD_ENV_WANT", "env.yaml")]))
            .await
            .unwrap();
        out.push((r.is_supported, r.is_discovery_enabled));
    }
    out
}

fn fixture() -> tempfile::TempDir {
    repo(&[
        ("jsonnet/main.jsonnet", "{}"),
        ("chart/templates/sub/Chart.yaml", "name: c"),
        ("envs/prod/env.yaml", "a: 1"),
        ("plain/deploy.yaml", "kind: X"),
    ])
}

#[tokio::test]
async fn by_file_name() {
    let sidecar = Sidecar::start(&definition(
        "by-name",
        &format!("{GENERATE}  provideGitCreds: true\n  discover:\n    fileName: './*.jsonnet'\n"),
    ));
    let repo = fixture();
    assert_eq!(
        matches(&sidecar, repo.path(), &["jsonnet", "plain", "chart"]).await,
        [(true, true), (false, true), (false, true)]
    );
    let check = sidecar
        .plugin()
        .await
        .check_plugin_configuration()
        .await
        .unwrap();
    assert!(check.is_discovery_configured && check.provide_git_creds);
}

#[tokio::test]
async fn by_glob_across_directories() {
    let sidecar = Sidecar::start(&definition(
        "by-glob",
        &format!("{GENERATE}  discover:\n    find:\n      glob: '**/Chart.yaml'\n"),
    ));
    let repo = fixture();
    assert_eq!(
        matches(&sidecar, repo.path(), &["chart", "plain"]).await,
        [(true, true), (false, true)]
    );
}

/// The find command matches when it exits 0 with output; it sees the request's environment.
#[tokio::test]
async fn by_command() {
    let sidecar = Sidecar::start(&definition(
        "by-command",
        &format!("{GENERATE}  discover:\n    find:\n      command: [sh, -c, 'find . -name \"$ARGOCD_ENV_WANT\"']\n"),
    ));
    let repo = fixture();
    assert_eq!(
        matches(&sidecar, repo.path(), &["envs", "plain"]).await,
        [(true, true), (false, true)]
    );
    let failing = Sidecar::start(&definition(
        "find-fails",
        &format!("{GENERATE}  discover:\n    find:\n      command: [sh, -c, 'echo found; echo nope >&2; exit 3']\n"),
    ));
    let err = failing
        .plugin()
        .await
        .match_repository(&pack(repo.path(), "envs").await, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("match repository error: error running find command:"),
        "{err}"
    );
    assert!(err.ends_with("failed exit status: 3: nope"), "{err}");
}

#[tokio::test]
async fn without_discovery() {
    let sidecar = Sidecar::start(&definition("named-only", GENERATE));
    let repo = fixture();
    assert_eq!(
        matches(&sidecar, repo.path(), &["jsonnet"]).await,
        [(false, false)]
    );
    let check = sidecar
        .plugin()
        .await
        .check_plugin_configuration()
        .await
        .unwrap();
    assert!(!check.is_discovery_configured && !check.provide_git_creds);
}

/// Dynamic announcements first, then the static ones, as upstream.
#[tokio::test]
async fn static_and_dynamic_parameters() {
    let spec = format!(
        r#"{GENERATE}  parameters:
    static:
      - name: string-param
        title: A string
        tooltip: tip
        required: true
        string: default
      - name: array-param
        collectionType: array
        array: [a, b]
      - name: map-param
        collectionType: map
        map: {{some: value}}
    dynamic:
      command: [sh, -c, 'printf "[{{\"name\": \"from-%s\", \"string\": \"%s\"}}]" "$(ls)" "$ARGOCD_ENV_X"']
"#
    );
    let sidecar = Sidecar::start(&definition("params", &spec));
    let repo = repo(&[("app/values.yaml", "")]);
    let packed = pack(repo.path(), "app").await;
    let got = sidecar
        .plugin()
        .await
        .get_parameters_announcement(&packed, &env(&[("ARGOCD_ENV_X", "request-value")]))
        .await
        .unwrap()
        .parameter_announcements;
    let want = [
        ParameterAnnouncement {
            name: "from-values.yaml".into(),
            string: "request-value".into(),
            ..Default::default()
        },
        ParameterAnnouncement {
            name: "string-param".into(),
            title: "A string".into(),
            tooltip: "tip".into(),
            required: true,
            string: "default".into(),
            ..Default::default()
        },
        ParameterAnnouncement {
            name: "array-param".into(),
            collection_type: "array".into(),
            array: vec!["a".into(), "b".into()],
            ..Default::default()
        },
        ParameterAnnouncement {
            name: "map-param".into(),
            collection_type: "map".into(),
            map: HashMap::from([("some".to_string(), "value".to_string())]),
            ..Default::default()
        },
    ];
    assert_eq!(got, want);
}
