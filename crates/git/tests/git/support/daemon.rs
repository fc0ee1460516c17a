//! `git daemon` exporting a directory over git://.

use std::path::Path;
use std::process::{Child, Command, Stdio};

pub(crate) struct Daemon {
    child: Child,
    pub port: u16,
}

impl Daemon {
    /// `None` (a skip) when this git has no daemon.
    pub(crate) fn start(root: &Path) -> Option<Self> {
        let exec_path = super::fixture::run(Command::new("git").arg("--exec-path"));
        // Run directly: `git daemon` would leave it orphaned when the wrapper is killed.
        let program = Path::new(&exec_path).join("git-daemon");
        if !super::available(program.exists(), "git daemon is not installed") {
            return None;
        }
        let port = super::free_port();
        let child = Command::new(program)
            .args([
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", root.display()))
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon");
        super::wait_listening(port);
        Some(Self { child, port })
    }

    pub(crate) fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
