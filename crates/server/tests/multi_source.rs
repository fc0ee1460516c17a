//! Multi-source apps over gRPC with real repositories and the real helm: a chart in one
//! repository, its values in another (`$values/…`), as upstream's
//! TestHelmChartReferencingExternalValues*, TestGenerateManifest_RefOnlyShortCircuit and
//! Test_populateHelmAppDetailsWithRef.
//!
//! Requests are built as the application controller builds them (controller/state.go,
//! `GetRepoObjs`): `revision` is the source's resolved or target revision, `refSources` comes
//! from `argo.GetRefSources` (keys `$<ref>`, each the ref source's repository and revision),
//! `hasMultipleSources` is `app.Spec.HasMultipleSources()` and `helmOptions` is argocd-cm's
//! (`https,http` unless set).

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::collections::HashMap;
use std::path::Path;

use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceHelm, HelmFileParameter, HelmOptions, RefTarget,
};
use repos::*;
use tonic::Code;

const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\n";
const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  env: {{ .Values.env | quote }}\n  cert: {{ .Values.cert | default \"none\" | quote }}\n";

/// Repository A with the chart, repository B with per-environment values.
fn repositories(dir: &Path) -> ((std::path::PathBuf, String), (std::path::PathBuf, String)) {
    let a = repository(
        dir,
        "charts",
        &[
            ("chart/Chart.yaml", CHART),
            ("chart/templates/cm.yaml", TEMPLATE),
            ("chart/values.yaml", "env: default\n"),
        ],
    );
    let b = repository(
        dir,
        "values",
        &[
            ("envs/prod.yaml", "env: prod\n"),
            ("files/cert.txt", "CERT"),
        ],
    );
    (a, b)
}

fn helm(value_files: &[&str]) -> ApplicationSourceHelm {
    ApplicationSourceHelm {
        value_files: value_files.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    }
}

/// `argo.GetRefSources` for the sources `{ref: values, repoURL: b, targetRevision: main}`.
fn ref_sources(b: &str) -> HashMap<String, RefTarget> {
    HashMap::from([(
        "$values".to_string(),
        RefTarget {
            repo: repo_message(b),
            target_revision: Some("main".into()),
            chart: Some(String::new()),
        },
    )])
}

/// The chart source of a two-source app (`sources: [chart in a, {ref: values} in b]`).
fn request(a: &str, b: &str, helm: ApplicationSourceHelm) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(a),
        revision: "main".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(a.into()),
            path: Some("chart".into()),
            target_revision: Some("main".into()),
            helm: Some(helm),
            ..Default::default()
        }),
        has_multiple_sources: true,
        ref_sources: ref_sources(b),
        helm_options: Some(HelmOptions {
            values_file_schemes: vec!["https".into(), "http".into()],
        }),
        project_name: "default".into(),
        project_source_repos: vec!["*".into()],
        ..Default::default()
    }
}

fn data(response: &ManifestResponse) -> serde_json::Value {
    objects(&response.manifests)[0]["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_come_from_the_other_repository_at_its_current_commit() {
    if !tool("helm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ((_, a), (b_dir, b)) = repositories(dir.path());
    let (_server, mut c) = client(dir.path()).await;

    let mut spec = helm(&["$values/envs/prod.yaml"]);
    spec.file_parameters = vec![HelmFileParameter {
        name: Some("cert".into()),
        path: Some("$values/files/cert.txt".into()),
    }];
    let first = c
        .generate_manifest(request(&a, &b, spec.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(data(&first)["env"], "prod");
    assert_eq!(data(&first)["cert"], "CERT");
    let command = &first.commands[0];
    assert!(
        command.contains("--values ./envs/prod.yaml")
            && command.contains("--set-file cert=./files/cert.txt"),
        "the other snapshot is shown as `.`, as upstream redacts it: {command}"
    );

    // A push to the values repository alone: the next render sees it (the key holds B's
    // commit), without noCache.
    commit(&b_dir, &[("envs/prod.yaml", "env: prod-2\n")]);
    let mut fresh = request(&a, &b, spec.clone());
    fresh.no_revision_cache = true;
    let second = c.generate_manifest(fresh).await.unwrap().into_inner();
    assert_eq!(data(&second)["env"], "prod-2");
    assert_eq!(second.revision, first.revision, "A did not change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ref_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ((_, a), (_, b)) = repositories(dir.path());
    let (_server, mut c) = client(dir.path()).await;
    let err = c
        .generate_manifest(request(&a, &b, helm(&["$missing/envs/prod.yaml"])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unknown, "{err:?}");
    assert_eq!(
        err.message(),
        "source referenced \"$missing\", which is not one of the available sources ($values)"
    );
    let mut none = request(&a, &b, helm(&["$values/envs/prod.yaml"]));
    none.ref_sources.clear();
    let err = c.generate_manifest(none).await.unwrap_err();
    assert_eq!(
        err.message(),
        "source referenced \"$values\", but no source has a 'ref' field defined"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_files_stay_inside_the_other_repository() {
    if !tool("helm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ((_, a), (b_dir, b)) = repositories(dir.path());
    write(dir.path(), "outside.yaml", "env: stolen\n");
    let (_server, mut c) = client(dir.path()).await;

    let err = c
        .generate_manifest(request(&a, &b, helm(&["$values/../outside.yaml"])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .contains("$values/../outside.yaml: leads outside"),
        "{err:?}"
    );

    // A symlink out of B anywhere fails B, as upstream's out-of-bounds scan of a ref source.
    std::os::unix::fs::symlink("../../outside.yaml", b_dir.join("envs/escape.yaml")).unwrap();
    git(&b_dir, &["add", "-A"]);
    git(&b_dir, &["commit", "-q", "-m", "link"]);
    let mut req = request(&a, &b, helm(&["$values/envs/escape.yaml"]));
    req.no_revision_cache = true;
    let err = c.generate_manifest(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().starts_with("envs/escape.yaml: leads outside"),
        "{err:?}"
    );
    assert!(!err.message().contains("stolen") && !err.message().contains("outside.yaml:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_only_source_answers_its_revision_only() {
    let dir = tempfile::tempdir().unwrap();
    let ((_, a), (b_dir, b)) = repositories(dir.path());
    let (_server, mut c) = client(dir.path()).await;
    // The ref source's own request: `{ref: values, repoURL: b, targetRevision: main}`.
    let mut req = request(&b, &b, ApplicationSourceHelm::default());
    req.application_source = Some(ApplicationSource {
        repo_url: Some(b.clone()),
        target_revision: Some("main".into()),
        r#ref: Some("values".into()),
        ..Default::default()
    });
    let response = c.generate_manifest(req).await.unwrap().into_inner();
    assert!(response.manifests.is_empty());
    assert_eq!(response.revision, git(&b_dir, &["rev-parse", "HEAD"]));
    assert!(response.source_type.is_empty());
    let _ = a;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_details_read_selected_values_from_the_other_repository() {
    let dir = tempfile::tempdir().unwrap();
    let ((_, a), (_, b)) = repositories(dir.path());
    let (_server, mut c) = client(dir.path()).await;
    // server/application/application.go GetAppDetails → RepoServerAppDetailsQuery with the
    // app's refSources (argo.GetRefSources) and argocd-cm's helmOptions.
    let query = RepoServerAppDetailsQuery {
        repo: repo_message(&a),
        source: Some(ApplicationSource {
            repo_url: Some(a.clone()),
            path: Some("chart".into()),
            target_revision: Some("main".into()),
            helm: Some(helm(&["$values/envs/prod.yaml"])),
            ..Default::default()
        }),
        app_name: "web".into(),
        ref_sources: ref_sources(&b),
        helm_options: Some(HelmOptions {
            values_file_schemes: vec!["https".into()],
        }),
        ..Default::default()
    };
    let details = c.get_app_details(query).await.unwrap().into_inner();
    let helm = details.helm.unwrap();
    let params: Vec<(String, String)> = helm
        .parameters
        .iter()
        .map(|p| (p.name().to_string(), p.value().to_string()))
        .collect();
    assert_eq!(params, [("env".to_string(), "prod".to_string())]);
    assert_eq!(helm.value_files, ["values.yaml"]);
}
