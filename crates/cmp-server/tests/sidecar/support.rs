//! A sidecar process per test, its repository fixtures, and clients.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use repo_cmp::{Dial, Pack, Packed, Plugin};
use repo_proto::plugin::config_management_plugin_service_client::ConfigManagementPluginServiceClient;
use repo_proto::plugin::EnvEntry;
use repo_source::RepoPath;
use tempfile::TempDir;
use tonic::transport::{Channel, Endpoint, Uri};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_argocd-cmp-server");

/// `plugin.yaml` for a plugin named `name` with the given `spec:` body (indented two spaces).
pub(crate) fn definition(name: &str, spec: &str) -> String {
    format!("apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

/// A running sidecar; stopped when dropped.
pub(crate) struct Sidecar {
    child: Child,
    pub(crate) dirs: TempDir,
    pub(crate) socket: PathBuf,
}

impl Sidecar {
    pub(crate) fn start(yaml: &str) -> Self {
        Self::with_env(yaml, &[])
    }

    pub(crate) fn with_env(yaml: &str, env: &[(&str, &str)]) -> Self {
        let dirs = tempfile::tempdir().unwrap();
        let (child, log) = spawn(dirs.path(), yaml, env);
        let mut sidecar = Self {
            child,
            socket: PathBuf::new(),
            dirs,
        };
        // Waiting for the socket; the bound only keeps a broken build from hanging.
        for _ in 0..400 {
            if let Some(socket) = only_socket(&sidecar.dirs.path().join("plugins")) {
                sidecar.socket = socket;
                return sidecar;
            }
            if let Some(status) = sidecar.child.try_wait().unwrap() {
                panic!("the sidecar exited ({status}): {}", read(&log));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("no socket after 10s: {}", read(&log));
    }

    /// The work directory the sidecar unpacks requests into.
    pub(crate) fn work(&self) -> PathBuf {
        self.dirs.path().join("work/_cmp_server")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) async fn plugin(&self) -> Plugin {
        Plugin::connect("test", self.socket.clone(), Dial::default())
            .await
            .unwrap()
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(&mut self) -> ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with its directories under `dir`; returns it and its log file.
pub(crate) fn spawn(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> (Child, PathBuf) {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/plugin.yaml"), yaml).unwrap();
    let log = dir.join("sidecar.log");
    let child = Command::new(BIN)
        .arg("--config-dir-path")
        .arg(dir.join("config"))
        .args(["--logformat", "text", "--loglevel", "debug"])
        .env("ARGOCD_PLUGINSOCKFILEPATH", dir.join("plugins"))
        .env("ARGOCD_CMP_WORKDIR", dir.join("work"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn only_socket(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_ok_and(|t| t.is_socket()))
        .map(|e| e.path())
}

/// A repository with `files` (`path`, content).
pub(crate) fn repo(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

pub(crate) async fn pack(root: &Path, app: &str) -> Packed {
    Pack::new(root, RepoPath::new(app).unwrap())
        .pack()
        .await
        .unwrap()
}

pub(crate) fn env(pairs: &[(&str, &str)]) -> Vec<EnvEntry> {
    pairs
        .iter()
        .map(|(name, value)| EnvEntry {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect()
}

/// A plain tonic client on the socket, for what repo-cmp's client does not send or cuts.
pub(crate) async fn raw(socket: &Path) -> ConfigManagementPluginServiceClient<Channel> {
    let socket = socket.to_path_buf();
    let connector = tower::service_fn(move |_: Uri| {
        let socket = socket.clone();
        async move {
            tokio::net::UnixStream::connect(socket)
                .await
                .map(TokioIo::new)
        }
    });
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(connector)
        .await
        .unwrap();
    ConfigManagementPluginServiceClient::new(channel).max_decoding_message_size(100 << 20)
}

/// The repo-cmp error's message, for assertions.
pub(crate) fn message(e: repo_cmp::Error) -> (tonic::Code, String) {
    match e {
        repo_cmp::Error::Plugin { code, message, .. } => (code, message),
        other => panic!("not an answer from the plugin: {other}"),
    }
}
