//! Runs kustomize: `.tools/bin/kustomize` (what `scripts/install-tools` installs), else
//! `kustomize` on PATH, else `kubectl kustomize` (the version embedded in kubectl is what most
//! operators run, so when both exist the tests compare them).

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// `deploy/` in the repository.
pub(crate) fn deploy() -> PathBuf {
    repo().join("deploy")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tool {
    Kustomize(PathBuf),
    Kubectl(PathBuf),
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tool::Kustomize(path) => write!(f, "{} build", path.display()),
            Tool::Kubectl(path) => write!(f, "{} kustomize", path.display()),
        }
    }
}

impl Tool {
    /// The YAML stream kustomize renders for `dir`, or its error output.
    pub(crate) fn build(&self, dir: &Path) -> Result<String, String> {
        let mut command = match self {
            Tool::Kustomize(path) => {
                let mut c = Command::new(path);
                c.arg("build");
                c
            }
            Tool::Kubectl(path) => {
                let mut c = Command::new(path);
                c.arg("kustomize");
                c
            }
        };
        let out = command
            .arg(dir)
            .output()
            .map_err(|e| format!("{self} {}: {e}", dir.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{self} {} failed ({}):\n{}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| format!("{self}: output is not UTF-8: {e}"))
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Every distinct kustomize available, preferred first.
pub(crate) fn available() -> Vec<Tool> {
    let mut tools = Vec::new();
    let pinned = repo().join(".tools/bin/kustomize");
    if is_executable(&pinned) {
        tools.push(Tool::Kustomize(pinned.clone()));
    }
    if let Some(found) = on_path("kustomize") {
        if found.canonicalize().ok() != pinned.canonicalize().ok() {
            tools.push(Tool::Kustomize(found));
        }
    }
    if let Some(kubectl) = on_path("kubectl") {
        tools.push(Tool::Kubectl(kubectl));
    }
    tools
}

/// The preferred tool. Without one the calling test is skipped, except under CI, where a
/// silently skipped manifest suite would pass for the wrong reason.
pub(crate) fn tool() -> Option<Tool> {
    if let Some(tool) = available().into_iter().next() {
        return Some(tool);
    }
    let reason = "neither kustomize (.tools/bin or PATH) nor kubectl is available; \
                  run scripts/install-tools";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true: {reason}");
    }
    eprintln!("skipped: {reason}");
    None
}

/// `to` relative to the directory `from`: kustomize refuses absolute paths in `resources`
/// and `components`.
pub(crate) fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    path
}
