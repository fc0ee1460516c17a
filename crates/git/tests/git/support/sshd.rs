//! `sshd` on loopback with a generated host key, accepting one generated client key for the
//! current user. Needs root (privilege separation) and openssh-server (scripts/install-tools).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::fixture::run;

pub(crate) struct Sshd {
    child: Child,
    pub port: u16,
    pub user: String,
    /// `known_hosts` line for this server.
    pub known_hosts: String,
    /// The accepted client key (OpenSSH private key text).
    pub client_key: String,
    _dir: TempDir,
}

impl Sshd {
    /// `None` (a skip) when not root or sshd/ssh-keygen are missing.
    pub(crate) fn start() -> Option<Self> {
        let root = run(Command::new("id").arg("-u")) == "0";
        if !super::available(root, "the sshd tests need root") {
            return None;
        }
        let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let keygen = Command::new("ssh-keygen").arg("-?").output().is_ok();
        let ssh = Command::new("ssh").arg("-V").output().is_ok();
        let why = "sshd, ssh or ssh-keygen is missing: run scripts/install-tools";
        if !super::available(sshd.is_some() && keygen && ssh, why) {
            return None;
        }
        let sshd = sshd?;
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let host_key = keygen_pair(dir.path(), "host_key");
        let client_key = keygen_pair(dir.path(), "client_key");
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let port = super::free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 PidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 LogLevel ERROR\n",
                host = host_key.display(),
                dir = dir.path().display(),
            ),
        )
        .unwrap();
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd");
        super::wait_listening(port);
        let public = std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap();
        let mut fields = public.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        Some(Self {
            child,
            port,
            user: run(Command::new("id").arg("-un")),
            known_hosts: format!("[127.0.0.1]:{port} {kind} {key}\n"),
            client_key: std::fs::read_to_string(&client_key).unwrap(),
            _dir: dir,
        })
    }

    /// URL of a repository by absolute path.
    pub(crate) fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen_pair(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path));
    path
}
