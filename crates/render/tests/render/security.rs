//! Negative tests: nothing a request or a repository says may read or write outside the
//! snapshot, smuggle a flag into a tool, or learn where an escaping symlink points.

use repo_proto::v1alpha1::{
    ApplicationSourceDirectory, ApplicationSourceHelm, ApplicationSourceJsonnet,
    ApplicationSourceKustomize, HelmFileParameter, HelmParameter,
};
use repo_render::Error;

use crate::common::{have, Repo, Request};

const SECRET: &str = "TOP-SECRET-CONTENT";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";

/// A repository with a secret file next to it, outside the snapshot.
fn repo() -> Repo {
    let repo = Repo::new();
    std::fs::create_dir_all(repo.outside("target-dir-xyz")).unwrap();
    std::fs::write(
        repo.outside("target-dir-xyz/secret.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {SECRET}\n"),
    )
    .unwrap();
    repo.file("app/cm.yaml", CM);
    repo
}

/// Neither the outside file's content nor, when the request did not name it, its location
/// may appear in the error.
fn assert_hidden(err: &Error) {
    let text = err.to_string();
    assert!(
        !text.contains("target-dir-xyz"),
        "link target revealed: {text}"
    );
    assert_no_secret(err);
}

fn assert_no_secret(err: &Error) {
    let text = err.to_string();
    assert!(!text.contains(SECRET), "secret revealed: {text}");
}

#[tokio::test]
async fn app_path_with_dotdot_escapes() {
    let repo = repo();
    let err = Request::new(&repo, "../target-dir-xyz")
        .render()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutOfBounds { .. }), "{err}");
}

#[tokio::test]
async fn absolute_app_path_is_refused() {
    let repo = repo();
    let err = Request::new(&repo, "/etc").render().await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[tokio::test]
async fn app_path_starting_with_dash_is_refused() {
    let repo = repo();
    repo.file("-rf/cm.yaml", CM);
    let err = Request::new(&repo, "-rf").render().await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[tokio::test]
async fn app_dir_symlinked_outside_is_refused_without_naming_the_target() {
    let repo = repo();
    repo.link("linked", repo.outside("target-dir-xyz"));
    let err = Request::new(&repo, "linked").render().await.unwrap_err();
    assert!(
        matches!(err, Error::OutOfBounds { ref path } if path == "linked"),
        "{err}"
    );
    assert_hidden(&err);
}

#[tokio::test]
async fn manifest_symlinked_outside_is_refused_without_naming_the_target() {
    let repo = repo();
    repo.link("app/z.yaml", repo.outside("target-dir-xyz/secret.yaml"));
    let err = Request::new(&repo, "app").render().await.unwrap_err();
    assert!(
        matches!(err, Error::OutOfBounds { ref path } if path == "app/z.yaml"),
        "{err}"
    );
    assert_hidden(&err);
}

#[tokio::test]
async fn jsonnet_imports_cannot_leave_the_repository() {
    let repo = repo();
    repo.link(
        "lib/evil.libsonnet",
        repo.outside("target-dir-xyz/secret.yaml"),
    );
    let secret = repo.outside("target-dir-xyz/secret.yaml");
    for (i, import) in [
        "importstr '../../target-dir-xyz/secret.yaml'".to_string(),
        format!("importstr '{}'", secret.display()),
        "importstr 'evil.libsonnet'".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let dir = format!("j{i}");
        repo.file(&format!("{dir}/main.jsonnet"), &format!("{{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: 'x' }}, data: {{ s: {import} }} }}"));
        let mut req = Request::new(&repo, &dir);
        req.source.directory = Some(ApplicationSourceDirectory {
            jsonnet: Some(ApplicationSourceJsonnet {
                libs: vec!["lib".into()],
                ..Default::default()
            }),
            ..Default::default()
        });
        let err = req.render().await.unwrap_err();
        assert!(matches!(err, Error::OutOfBounds { .. }), "{import}: {err}");
        if import.contains("target-dir-xyz") {
            assert_no_secret(&err);
        } else {
            assert_hidden(&err);
        }
    }
}

#[tokio::test]
async fn jsonnet_libs_cannot_leave_the_repository() {
    let repo = repo();
    repo.file(
        "j/main.jsonnet",
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }",
    );
    let mut req = Request::new(&repo, "j");
    req.source.directory = Some(ApplicationSourceDirectory {
        jsonnet: Some(ApplicationSourceJsonnet {
            libs: vec!["../target-dir-xyz".into()],
            ..Default::default()
        }),
        ..Default::default()
    });
    let err = req.render().await.unwrap_err();
    assert!(matches!(err, Error::OutOfBounds { .. }), "{err}");
}

fn chart(repo: &Repo) {
    repo.file(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    );
    repo.file(
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name | default \"cm\" }}\n",
    );
}

#[tokio::test]
async fn value_files_cannot_leave_the_repository() {
    let repo = repo();
    chart(&repo);
    repo.link(
        "chart/evil.yaml",
        repo.outside("target-dir-xyz/secret.yaml"),
    );
    for file in [
        "../../target-dir-xyz/secret.yaml",
        "evil.yaml",
        "/../target-dir-xyz/secret.yaml",
    ] {
        let mut req = Request::new(&repo, "chart");
        req.source.helm = Some(ApplicationSourceHelm {
            value_files: vec![file.into()],
            ..Default::default()
        });
        let err = req.render().await.unwrap_err();
        assert!(matches!(err, Error::OutOfBounds { .. }), "{file}: {err}");
        if file.contains("target-dir-xyz") {
            assert_no_secret(&err);
        } else {
            assert_hidden(&err);
        }
    }
}

#[tokio::test]
async fn set_file_cannot_leave_the_repository() {
    let repo = repo();
    chart(&repo);
    let mut req = Request::new(&repo, "chart");
    req.source.helm = Some(ApplicationSourceHelm {
        file_parameters: vec![HelmFileParameter {
            name: Some("name".into()),
            path: Some("../../target-dir-xyz/secret.yaml".into()),
        }],
        ..Default::default()
    });
    let err = req.render().await.unwrap_err();
    assert!(matches!(err, Error::OutOfBounds { .. }), "{err}");
}

#[tokio::test]
async fn escaping_symlink_anywhere_fails_tool_renders() {
    let repo = repo();
    chart(&repo);
    repo.link("unrelated/link", repo.outside("target-dir-xyz"));
    let err = Request::new(&repo, "chart").render().await.unwrap_err();
    assert!(
        matches!(err, Error::OutOfBounds { ref path } if path == "unrelated/link"),
        "{err}"
    );
    assert_hidden(&err);
}

/// A plain Kustomize build runs on the shared snapshot (no private copy); the whole repository
/// is still scanned first, as a snapshot or as streamed files, and the snapshot stays as it was.
#[tokio::test]
async fn plain_kustomize_reads_the_snapshot_only_after_the_scan() {
    let repo = repo();
    repo.file("app/kustomization.yaml", "resources:\n- cm.yaml\n");
    let probe = Request::new(&repo, "app");
    if !have(probe.tools.kustomize.as_ref(), "kustomize") {
        return;
    }
    let before = repo.snapshot();
    let mut req = Request::new(&repo, "app");
    req.scans = Some(repo_render::Scans::default());
    assert_eq!(req.objects().await.len(), 1);
    assert_eq!(repo.snapshot(), before, "the snapshot was written to");

    repo.link("unrelated/link", repo.outside("target-dir-xyz"));
    for scans in [None, Some(repo_render::Scans::default())] {
        let mut req = Request::new(&repo, "app");
        req.scans = scans;
        let err = req.render().await.unwrap_err();
        assert!(
            matches!(err, Error::OutOfBounds { ref path } if path == "unrelated/link"),
            "{err}"
        );
        assert_hidden(&err);
    }
}

#[tokio::test]
async fn flags_cannot_be_smuggled_into_helm() {
    let repo = repo();
    chart(&repo);
    let cases = [
        ApplicationSourceHelm {
            release_name: Some("--post-renderer=/bin/sh".into()),
            ..Default::default()
        },
        ApplicationSourceHelm {
            parameters: vec![HelmParameter {
                name: Some("--kubeconfig".into()),
                value: Some("x".into()),
                force_string: None,
            }],
            ..Default::default()
        },
        ApplicationSourceHelm {
            api_versions: vec!["--debug".into()],
            ..Default::default()
        },
        ApplicationSourceHelm {
            namespace: Some("-n".into()),
            ..Default::default()
        },
    ];
    for helm in cases {
        let mut req = Request::new(&repo, "chart");
        req.source.helm = Some(helm.clone());
        let err = req.render().await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{helm:?}: {err}");
    }
}

#[tokio::test]
async fn flags_cannot_be_smuggled_into_kustomize() {
    let repo = repo();
    repo.file("k/kustomization.yaml", "resources: [cm.yaml]\n")
        .file("k/cm.yaml", CM);
    let cases = [
        ApplicationSourceKustomize {
            images: vec!["--load-restrictor=LoadRestrictionsNone".into()],
            ..Default::default()
        },
        ApplicationSourceKustomize {
            components: vec!["--help".into()],
            ..Default::default()
        },
        ApplicationSourceKustomize {
            common_labels: [("-x".to_string(), "y".to_string())].into(),
            ..Default::default()
        },
    ];
    for k in cases {
        let mut req = Request::new(&repo, "k");
        req.source.kustomize = Some(k.clone());
        let err = req.render().await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{k:?}: {err}");
    }
}

#[tokio::test]
async fn kustomize_load_restrictor_stays_on() {
    let repo = repo();
    let req = Request::new(&repo, "k");
    if !have(
        req.tools.kustomize.as_ref().or(req.tools.kubectl.as_ref()),
        "kustomize or kubectl",
    ) {
        return;
    }
    let secret = repo.outside("target-dir-xyz/secret.yaml");
    repo.file(
        "k/kustomization.yaml",
        &format!("resources:\n- cm.yaml\n- {}\n", secret.display()),
    );
    repo.file("k/cm.yaml", CM);
    let err = req.render().await.unwrap_err();
    assert!(matches!(err, Error::Tool { .. }), "{err}");
    let text = err.to_string();
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        !text.contains(&req.tools.scratch.display().to_string()),
        "scratch path leaked: {text}"
    );
}

#[tokio::test]
async fn tool_renders_never_write_into_the_snapshot() {
    let repo = repo();
    let req = Request::new(&repo, "k");
    if !have(req.tools.kustomize.as_ref(), "kustomize") {
        return;
    }
    repo.file("k/kustomization.yaml", "resources: [cm.yaml]\n")
        .file("k/cm.yaml", CM);
    let before = repo.snapshot();
    let mut req = req;
    req.source.kustomize = Some(ApplicationSourceKustomize {
        name_prefix: Some("p-".into()),
        namespace: Some("ns".into()),
        images: vec!["nginx=nginx:1".into()],
        common_labels: [("a".to_string(), "b".to_string())].into(),
        ..Default::default()
    });
    req.render().await.unwrap();
    assert_eq!(repo.snapshot(), before, "the shared snapshot changed");
}
