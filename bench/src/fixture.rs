//! Git repositories to render and a local git server to fetch them from.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use prost::Message;
use repo_proto::github::com::argoproj::argo_cd::v3::pkg::apis::application::v1alpha1::{
    ApplicationSource, Repository,
};
use repo_proto::repository::ManifestRequest;

use crate::system::{free_addr, Process};

/// Runs git with a fixed identity; returns trimmed stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

pub(crate) fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `n` ConfigMaps of a few hundred bytes each, one multi-document file.
pub(crate) fn configmaps(app: &str, n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}-{i}\n  labels:\n    tier: backend\ndata:\n  index: \"{i}\"\n  setting: value-{i}-of-{app}\n"
        );
    }
    out
}

/// A kustomize app: a Deployment and a Service with a name prefix and common labels.
pub(crate) fn kustomize_app(root: &Path, dir: &str, name: &str) {
    write(
        root,
        &format!("{dir}/kustomization.yaml"),
        &format!(
            "namePrefix: {name}-\nlabels:\n- pairs:\n    team: bench\nresources:\n- deployment.yaml\n- service.yaml\n"
        ),
    );
    write(root, &format!("{dir}/deployment.yaml"), DEPLOYMENT);
    write(root, &format!("{dir}/service.yaml"), SERVICE);
}

/// A Helm chart with a Deployment and a Service rendered from values.
pub(crate) fn helm_chart(root: &Path, dir: &str) {
    write(
        root,
        &format!("{dir}/Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: \"1.0\"\n",
    );
    write(
        root,
        &format!("{dir}/values.yaml"),
        "replicas: 2\nimage: nginx:1.27\nport: 80\n",
    );
    write(
        root,
        &format!("{dir}/templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n  labels:\n    chart: {{ .Chart.Name }}-{{ .Chart.Version }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}\n  template:\n    metadata:\n      labels:\n        app: {{ .Release.Name }}\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image | quote }}\n        ports:\n        - containerPort: {{ .Values.port }}\n",
    );
    write(
        root,
        &format!("{dir}/templates/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  selector:\n    app: {{ .Release.Name }}\n  ports:\n  - port: {{ .Values.port }}\n",
    );
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n";

/// Makes `dir` a repository with everything in it committed; returns the commit.
pub(crate) fn commit_all(dir: &Path, message: &str) -> anyhow::Result<String> {
    if !dir.join(".git").exists() {
        git(dir, &["init", "-q"])?;
    }
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "-m", message])?;
    git(dir, &["rev-parse", "HEAD"])
}

/// `git daemon` serving the bare repositories under `base` on loopback.
pub(crate) struct Daemon {
    pub addr: SocketAddr,
    pub base: PathBuf,
    _process: Process,
}

impl Daemon {
    pub(crate) fn start(base: &Path, work: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(base)?;
        let addr = free_addr();
        let mut command = Command::new("git");
        command
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg(format!("--base-path={}", base.display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={}", addr.port()))
            .arg(base);
        let mut process = Process::spawn("git-daemon", command, work)?;
        process.ready(addr)?;
        Ok(Self {
            addr,
            base: base.into(),
            _process: process,
        })
    }

    /// Publishes the working repository `src` as `<name>.git`; returns its URL.
    pub(crate) fn publish(&self, src: &Path, name: &str) -> anyhow::Result<String> {
        let bare = self.base.join(format!("{name}.git"));
        if bare.exists() {
            git(
                &bare,
                &[
                    "fetch",
                    "-q",
                    &src.display().to_string(),
                    "+refs/heads/*:refs/heads/*",
                ],
            )?;
        } else {
            git(
                src,
                &["clone", "-q", "--bare", ".", &bare.display().to_string()],
            )?;
        }
        Ok(self.url(name))
    }

    pub(crate) fn url(&self, name: &str) -> String {
        format!("git://{}/{name}.git", self.addr)
    }
}

/// An encoded `GenerateManifest` request for `path` of `url` at `revision`.
pub(crate) fn manifest_request(url: &str, path: &str, revision: &str, app: &str) -> Vec<u8> {
    manifest_message(url, path, revision, app).encode_to_vec()
}

/// The `GenerateManifest` request for `path` of `url` at `revision`.
pub(crate) fn manifest_message(
    url: &str,
    path: &str,
    revision: &str,
    app: &str,
) -> ManifestRequest {
    ManifestRequest {
        repo: Some(Repository {
            repo: Some(url.into()),
            ..Default::default()
        }),
        revision: revision.into(),
        app_name: app.into(),
        namespace: "bench".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some(revision.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The number of manifests in an encoded `ManifestResponse`.
pub(crate) fn manifest_count(response: &[u8]) -> anyhow::Result<usize> {
    Ok(repo_proto::repository::ManifestResponse::decode(response)?
        .manifests
        .len())
}

/// `n` applications under `apps/` of `src`, every other one a directory of ten ConfigMaps and
/// the rest kustomize apps; returns their paths.
pub(crate) fn monorepo(src: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let path = format!("apps/app-{i:04}");
            if i % 2 == 0 {
                write(
                    src,
                    &format!("{path}/all.yaml"),
                    &configmaps(&format!("app-{i}"), 10),
                );
            } else {
                kustomize_app(src, &path, &format!("app-{i}"));
            }
            path
        })
        .collect()
}
