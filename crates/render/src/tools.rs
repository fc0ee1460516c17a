//! Where the external tools are and how far they may go.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Sandbox;

/// Paths of the external tools and the limits every invocation runs under.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `helm` (v3 or v4); Helm sources fail without it.
    pub helm: Option<PathBuf>,
    /// Standalone `kustomize`; needed for overrides (`kustomize edit`).
    pub kustomize: Option<PathBuf>,
    /// `kubectl`, whose embedded kustomize builds apps without overrides when `kustomize` is
    /// missing.
    pub kubectl: Option<PathBuf>,
    /// The Jsonnet evaluator, run once per `.jsonnet` file with [`EVALUATOR_ARG`](crate::EVALUATOR_ARG): this
    /// server's own binary (or `repo-jsonnet`, the same code on its own). Jsonnet files fail to
    /// render without it.
    pub jsonnet: Option<PathBuf>,
    /// Address space a Jsonnet evaluation may use, in bytes (2 GiB); zero disables the cap.
    pub jsonnet_memory: u64,
    /// Wall-clock limit per tool invocation and Jsonnet file (upstream's
    /// `ARGOCD_EXEC_TIMEOUT`, 90s).
    pub timeout: Duration,
    /// Cap on a tool's stdout; beyond it the tool is killed.
    pub max_output_bytes: usize,
    /// Cap on the combined size of a directory app's plain manifest files (upstream's
    /// `--max-combined-directory-manifests-size`, 10M). Zero disables it.
    pub max_directory_bytes: u64,
    /// Private work area: per-request copies and the `helm dependency build` cache.
    pub scratch: PathBuf,
    /// Directories besides [`Tools::scratch`] that hold content from requests (the repository
    /// cache): a program a request names there is never run, and no tool reads there beyond
    /// its own render's files when the [`Sandbox`] confines tools.
    pub untrusted: Vec<PathBuf>,
    /// How tool processes are confined (Landlock through this server as launcher).
    pub sandbox: Sandbox,
    /// The pod's proxy variables (`HTTPS_PROXY`, `NO_PROXY`…), given to every tool as
    /// upstream's tools inherit them: helm fetching dependencies, kustomize remote bases.
    pub proxy_env: Vec<(String, String)>,
}

impl Tools {
    /// Finds the tools on `PATH`, after the overrides `HELM_BIN`, `KUSTOMIZE_BIN` and
    /// `KUBECTL_BIN`, and the Jsonnet evaluator: the running program when it is
    /// `argocd-repo-server`, else `repo-jsonnet` next to it or on `PATH`; and the tool sandbox
    /// (the same program, else `repo-sandbox`), probed and logged. Scratch space goes under
    /// the system temporary directory.
    pub fn discover() -> Self {
        Self::discover_in(&[])
    }

    /// Like [`Tools::discover`], searching `dirs` before `PATH`.
    pub fn discover_in(dirs: &[&Path]) -> Self {
        let find = |name: &str, var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| search(name, dirs))
        };
        Self {
            helm: find("helm", "HELM_BIN"),
            kustomize: find("kustomize", "KUSTOMIZE_BIN"),
            kubectl: find("kubectl", "KUBECTL_BIN"),
            jsonnet: ours("repo-jsonnet", dirs),
            jsonnet_memory: 2 << 30,
            timeout: Duration::from_secs(90),
            max_output_bytes: 256 << 20,
            max_directory_bytes: 10_000_000,
            scratch: std::env::temp_dir().join("repo-render"),
            untrusted: Vec::new(),
            sandbox: Sandbox::detect(ours("repo-sandbox", dirs).as_deref()),
            proxy_env: Vec::new(),
        }
    }

    /// The program a request names as `tool` (a registered kustomize version, a
    /// `--helm-command`), if the server's operator can have put it there: a bare name found on
    /// the server's `PATH`, or an absolute path; either way an executable file outside the
    /// scratch area and the [`Tools::untrusted`] directories, where repository content lands,
    /// whose name contains `tool`, so a request cannot make a shell or an interpreter on the
    /// server the tool. The error says why not, naming `raw`.
    pub(crate) fn program(&self, raw: &str, tool: &str) -> Result<PathBuf, String> {
        let found = if raw.contains('/') {
            PathBuf::from(raw)
        } else {
            search(raw, &[]).ok_or_else(|| format!("{raw} is not on the repo-server's PATH"))?
        };
        if !found.is_absolute() {
            return Err(format!(
                "{raw} must be an absolute path or a program name on the repo-server's PATH"
            ));
        }
        let real = found
            .canonicalize()
            .map_err(|_| format!("{raw} does not exist on the repo-server"))?;
        if !is_executable(&real) {
            return Err(format!("{raw} is not an executable file"));
        }
        if !real
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(tool))
        {
            return Err(format!(
                "{raw} is not a {tool} binary (its name lacks {tool:?})"
            ));
        }
        let inside = std::iter::once(&self.scratch)
            .chain(&self.untrusted)
            .any(|dir| real.starts_with(dir.canonicalize().as_ref().unwrap_or(dir)));
        if inside {
            return Err(format!(
                "{raw} is inside the repo-server's cache, where repository content lands"
            ));
        }
        Ok(real)
    }
}

/// This program if it is the server (which evaluates Jsonnet when run with
/// [`EVALUATOR_ARG`](crate::EVALUATOR_ARG) and launches sandboxed tools with
/// [`SANDBOX_ARG`](crate::SANDBOX_ARG)), else `name`, the same code on its own, in `dirs`,
/// next to this program or on `PATH`.
fn ours(name: &str, dirs: &[&Path]) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    let beside = exe.as_deref().and_then(Path::parent);
    let dirs: Vec<&Path> = dirs.iter().copied().chain(beside).collect();
    // The small program of that name, installed beside the server, starts faster than the
    // server's own binary (each tool run starts one); else the server is its own helper.
    let installed = dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p));
    if installed.is_some() {
        return installed;
    }
    if let Some(exe) = &exe {
        if exe.file_name().is_some_and(|n| n == "argocd-repo-server") {
            return Some(exe.clone());
        }
    }
    search(name, &dirs)
}

/// The first executable file called `name` in `dirs`, then in `PATH`.
fn search(name: &str, dirs: &[&Path]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    dirs.iter()
        .map(|d| d.to_path_buf())
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
