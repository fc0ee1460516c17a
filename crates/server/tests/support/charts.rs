//! One chart, `guestbook`, for every source kind (git, Helm repository, OCI registry): its
//! files, and those files packaged by the real helm. Included with `#[path]`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use repo_proto::repository::ManifestRequest;
use repo_proto::v1alpha1::{ApplicationSource, ApplicationSourceHelm, HelmParameter, Repository};
use repo_testkit::Helm;
use tonic::{Code, Status};

pub(crate) const CHART: &str = "guestbook";
/// The versions a repository or registry offers in the tests.
pub(crate) const VERSIONS: [&str; 3] = ["1.0.0", "1.2.0", "2.0.0"];
pub(crate) const DESCRIPTION: &str = "A guestbook for the end-to-end tests";
pub(crate) const HOME: &str = "https://guestbook.example.com";

/// The chart's files at `version`: Chart.yaml (description, home, a maintainer), values and
/// a ConfigMap showing release name and namespace, chart version and values.
pub(crate) fn files(version: &str) -> Vec<(String, String)> {
    [
        (
            "Chart.yaml",
            format!(
                "apiVersion: v2\nname: {CHART}\nversion: {version}\ndescription: {DESCRIPTION}\n\
                 home: {HOME}\nmaintainers:\n  - name: Alice\n    email: alice@example.com\n"
            ),
        ),
        ("values.yaml", "greeting: hello\nreplicas: 1\n".to_string()),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n  \
             namespace: {{ .Release.Namespace }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  \
             replicas: {{ .Values.replicas | quote }}\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n"
                .to_string(),
        ),
    ]
    .into_iter()
    .map(|(name, text)| (format!("{CHART}/{name}"), text))
    .collect()
}

/// Writes [`files`] at `version` under `dir`; the chart's directory.
pub(crate) fn write(dir: &Path, version: &str) -> PathBuf {
    for (name, text) in files(version) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir.join(CHART)
}

/// The chart packaged by `helm package` at each of `versions` into `out`; the archives.
pub(crate) fn package(helm: &Helm, work: &Path, versions: &[&str], out: &Path) -> Vec<PathBuf> {
    versions
        .iter()
        .map(|v| {
            let src = write(&work.join(v), v);
            helm.package(&src, None, out)
        })
        .collect()
}

/// The tests' app: a parameter overriding one of the chart's values.
pub(crate) fn helm() -> ApplicationSourceHelm {
    ApplicationSourceHelm {
        parameters: vec![HelmParameter {
            name: Some("greeting".into()),
            value: Some("hi from params".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// As the application controller asks for the manifests of the tests' app (`guestbook-app`
/// in `prod`).
pub(crate) fn manifest(repo: Repository, source: ApplicationSource) -> ManifestRequest {
    ManifestRequest {
        repo: Some(repo),
        revision: source.target_revision().to_string(),
        app_name: "guestbook-app".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(source),
        ..Default::default()
    }
}

/// `status` has `code` and names each of `names`, and never shows `secret`.
pub(crate) fn refused(status: &Status, code: Code, names: &[&str], secret: &str) {
    let message = status.message();
    assert_eq!(status.code(), code, "{status:?}");
    for name in names {
        assert!(message.contains(name), "{message:?} does not name {name:?}");
    }
    assert!(!message.contains(secret), "{message:?} shows a secret");
}

/// The names of the rendered objects, sorted.
pub(crate) fn names(manifests: &[String]) -> Vec<String> {
    let mut names: Vec<String> = manifests
        .iter()
        .map(|m| {
            let object: serde_json::Value = serde_json::from_str(m).unwrap();
            object["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    names.sort();
    names
}
