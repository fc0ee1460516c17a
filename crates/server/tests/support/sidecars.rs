//! Our `argocd-cmp-server` sidecars for the server's tests: the binary built by cargo (it is
//! another package's, so `CARGO_BIN_EXE_*` does not name it), one process per plugin, their
//! sockets in one shared plugins directory as in a pod.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// `plugin.yaml` for a plugin named `name` with the given `spec:` body (indented two spaces).
pub(crate) fn definition(name: &str, spec: &str) -> String {
    format!("apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

/// The sidecar binary, built once per test run in this build's target directory.
fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "repo-cmp-server",
                "--bin",
                "argocd-cmp-server",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building argocd-cmp-server failed");
        // target/<profile>/deps/<this test> → target/<profile>/argocd-cmp-server
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join("argocd-cmp-server");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// Sidecars sharing a plugins directory; stopped when dropped.
pub(crate) struct Sidecars {
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Sidecars {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        Self {
            dir,
            children: Vec::new(),
        }
    }

    /// The plugins directory (`ARGOCD_PLUGINSOCKFILEPATH`).
    pub(crate) fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Starts a sidecar for `yaml` with `env` added to its environment; returns once its
    /// socket is there.
    pub(crate) fn add(&mut self, yaml: &str, env: &[(&str, &str)]) {
        let own = self
            .dir
            .path()
            .join(format!("sidecar-{}", self.children.len()));
        std::fs::create_dir_all(own.join("config")).unwrap();
        std::fs::write(own.join("config/plugin.yaml"), yaml).unwrap();
        let before = self.sockets();
        let log = own.join("sidecar.log");
        let mut child = Command::new(binary())
            .arg("--config-dir-path")
            .arg(own.join("config"))
            .args(["--logformat", "text", "--loglevel", "debug"])
            .env("ARGOCD_PLUGINSOCKFILEPATH", self.plugins())
            .env("ARGOCD_CMP_WORKDIR", own.join("work"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Waiting for the socket; the bound only keeps a broken build from hanging.
        for _ in 0..400 {
            if self.sockets() > before {
                self.children.push(child);
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the sidecar exited ({status}): {text}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        panic!("no socket after 10s");
    }

    fn sockets(&self) -> usize {
        use std::os::unix::fs::FileTypeExt;
        std::fs::read_dir(self.plugins())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
            .count()
    }
}

impl Drop for Sidecars {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
