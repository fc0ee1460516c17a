//! The real `helm`, with a home of its own (config, cache, data, registry logins) and no
//! inherited environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

pub struct Helm {
    bin: PathBuf,
    home: TempDir,
}

impl Helm {
    pub fn new(bin: &Path) -> Self {
        Self {
            bin: bin.to_path_buf(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `helm` in `dir` with only its own home in the environment.
    pub fn command(&self, dir: &Path) -> Command {
        let home = self.home.path();
        let mut command = Command::new(&self.bin);
        command
            .current_dir(dir)
            .env_clear()
            .env("HOME", home)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("HELM_REGISTRY_CONFIG", home.join("registry.json"));
        command
    }

    /// Runs `helm args` in `dir`; its stdout. Panics with helm's stderr when it fails.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Vec<u8> {
        run(self.command(dir).args(args), b"")
    }

    /// `helm package` of the chart directory `chart` (at `version` when given) into `out`; the
    /// archive's path.
    pub fn package(&self, chart: &Path, version: Option<&str>, out: &Path) -> PathBuf {
        let mut command = self.command(chart.parent().unwrap());
        command.arg("package").arg(chart).arg("-d").arg(out);
        if let Some(version) = version {
            command.args(["--version", version]);
        }
        let said = String::from_utf8(run(&mut command, b"")).unwrap();
        // "Successfully packaged chart and saved it to: <path>"
        let path = said.trim().rsplit(": ").next().unwrap();
        PathBuf::from(path)
    }

    /// A one-template chart `name` (a ConfigMap named after the release) packaged at
    /// `version`; the archive's path.
    pub fn chart(&self, name: &str, version: &str) -> PathBuf {
        let src = self
            .home
            .path()
            .join("src")
            .join(format!("{name}-{version}"));
        std::fs::create_dir_all(src.join("templates")).unwrap();
        std::fs::write(
            src.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(
            src.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
        )
        .unwrap();
        self.package(&src, None, &self.home.path().join("packages"))
    }

    /// `helm repo index` of `dir` (relative chart URLs).
    pub fn index(&self, dir: &Path) {
        self.run(dir, &["repo", "index", "."]);
    }

    /// `helm registry login` to `host` with the password on stdin, never on argv.
    pub fn login(&self, host: &str, user: &str, password: &str) {
        let mut login = self.command(self.home.path());
        login.args([
            "registry",
            "login",
            host,
            "--username",
            user,
            "--password-stdin",
        ]);
        run(&mut login, password.as_bytes());
    }

    /// `helm push --plain-http` of `archive` to `oci://<host>/<path>`.
    pub fn push(&self, archive: &Path, host: &str, path: &str) {
        let mut push = self.command(self.home.path());
        push.arg("push")
            .arg(archive)
            .arg(format!("oci://{host}/{path}"))
            .arg("--plain-http");
        run(&mut push, b"");
    }
}

/// Runs `command` with `input` on stdin; its stdout. Panics with its stderr when it fails.
pub(crate) fn run(command: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
