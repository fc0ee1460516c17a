//! Fixtures shared by the integration tests: throwaway repositories, tool lookup, and a request
//! that owns everything an `Input` borrows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use repo_proto::v1alpha1::ApplicationSource;
use repo_render::{render, Error, Input, Rendered, Sandbox, Tools, Tracking};
use serde_json::Value;
use tempfile::TempDir;

/// A repository snapshot in a temporary directory, with room for files "outside" it.
pub(crate) struct Repo {
    dir: TempDir,
}

impl Repo {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repo")).unwrap();
        Self { dir }
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// A path next to (outside) the repository.
    pub(crate) fn outside(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn file(&self, rel: &str, content: &str) -> &Self {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub(crate) fn link(&self, rel: &str, target: impl AsRef<Path>) -> &Self {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
        self
    }

    /// Every file under the root with its content, to prove a render left it untouched.
    pub(crate) fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = walkdir::WalkDir::new(self.root())
            .sort_by_file_name()
            .into_iter()
            .map(Result::unwrap)
            .map(|e| {
                let rel = e
                    .path()
                    .strip_prefix(self.root())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let content = if e.file_type().is_file() {
                    std::fs::read(e.path()).unwrap()
                } else {
                    vec![]
                };
                (rel, content)
            })
            .collect();
        out.sort();
        out
    }
}

/// Tools from the workspace's `.tools/bin`, then `PATH`; this package's Jsonnet evaluator and
/// sandbox launcher; a private scratch area.
pub(crate) fn tools(scratch: &Path) -> Tools {
    static SANDBOX: std::sync::OnceLock<Sandbox> = std::sync::OnceLock::new();
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin");
    let mut tools = Tools::discover_in(&[&bin]);
    tools.jsonnet = Some(env!("CARGO_BIN_EXE_repo-jsonnet").into());
    tools.sandbox = SANDBOX
        .get_or_init(|| Sandbox::detect(Some(Path::new(env!("CARGO_BIN_EXE_repo-sandbox")))))
        .clone();
    tools.scratch = scratch.to_path_buf();
    tools
}

/// Whether `tool` is available; fails under CI=true when it is not, else says why the test is
/// skipped.
pub(crate) fn have(tool: Option<&PathBuf>, name: &str) -> bool {
    if tool.is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} is required under CI=true; run scripts/install-tools");
    }
    eprintln!("skipping: {name} not found (run scripts/install-tools)");
    false
}

/// Everything a render borrows.
pub(crate) struct Request {
    pub root: PathBuf,
    pub source: ApplicationSource,
    pub app_name: String,
    pub namespace: String,
    pub kube_version: String,
    pub api_versions: Vec<String>,
    pub method: String,
    pub label_key: String,
    pub installation_id: String,
    pub enabled: HashMap<String, bool>,
    pub revision: String,
    pub repo_url: String,
    pub tools: Tools,
    pub kustomize: repo_render::Kustomize,
    /// `Some` renders as a git snapshot does (scan remembered); `None` as streamed files.
    pub scans: Option<repo_render::Scans>,
    _scratch: TempDir,
}

impl Request {
    pub(crate) fn new(repo: &Repo, path: &str) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        Self {
            root: repo.root(),
            source: ApplicationSource {
                repo_url: Some("https://git.example.com/shop.git".into()),
                path: Some(path.into()),
                target_revision: Some("main".into()),
                ..Default::default()
            },
            app_name: "guestbook".into(),
            namespace: "default".into(),
            kube_version: "1.30".into(),
            api_versions: vec![],
            method: String::new(),
            label_key: "app.kubernetes.io/instance".into(),
            installation_id: String::new(),
            enabled: HashMap::new(),
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            repo_url: "https://git.example.com/shop.git".into(),
            tools: tools(scratch.path()),
            kustomize: Default::default(),
            scans: None,
            _scratch: scratch,
        }
    }

    pub(crate) fn input(&self) -> Input<'_> {
        Input {
            root: &self.root,
            source: &self.source,
            app_path: None,
            app_name: &self.app_name,
            namespace: &self.namespace,
            project: "default",
            kube_version: &self.kube_version,
            api_versions: &self.api_versions,
            tracking: Tracking {
                method: &self.method,
                label_key: &self.label_key,
                installation_id: &self.installation_id,
            },
            enabled: &self.enabled,
            revision: &self.revision,
            repo_url: &self.repo_url,
            tools: &self.tools,
            kustomize: &self.kustomize,
            scans: self.scans.as_ref(),
            values: Default::default(),
            helm_repos: &[],
        }
    }

    pub(crate) async fn render(&self) -> Result<Rendered, Error> {
        render(&self.input()).await
    }

    /// Renders and parses, failing the test on error.
    pub(crate) async fn objects(&self) -> Vec<Value> {
        let rendered = self
            .render()
            .await
            .unwrap_or_else(|e| panic!("render failed: {e}"));
        parse(&rendered.manifests)
    }
}

pub(crate) fn parse(manifests: &[String]) -> Vec<Value> {
    manifests
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

/// Sorted by kind and name, for comparing tool output whose order is the tool's business.
pub(crate) fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
    let key = |v: &Value| {
        format!(
            "{}/{}",
            v["kind"].as_str().unwrap_or(""),
            v["metadata"]["name"].as_str().unwrap_or("")
        )
    };
    objects.sort_by_key(key);
    objects
}

/// The tracking annotation upstream writes by default.
pub(crate) fn tracking_id(group: &str, kind: &str, namespace: &str, name: &str) -> Value {
    serde_json::json!({ "argocd.argoproj.io/tracking-id": format!("guestbook:{group}/{kind}:{namespace}/{name}") })
}
