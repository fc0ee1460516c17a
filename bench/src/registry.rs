//! Debian's `docker-registry` (CNCF distribution) on loopback: plain HTTP, no authentication,
//! filesystem storage in a directory of this run.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::system::{free_addr, Process};

pub(crate) struct Registry {
    pub addr: SocketAddr,
    _process: Process,
}

impl Registry {
    /// Starts a registry storing under `dir`; its log goes to `work`.
    pub(crate) fn start(dir: &Path, work: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let addr = free_addr();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                // Warnings only and no access log: the registry's own logging is not measured.
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.join("storage").display()
            ),
        )?;
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config);
        let mut process = Process::spawn("docker-registry", command, work)
            .context("docker-registry (Debian package docker-registry; bench/run installs it)")?;
        process.ready(addr)?;
        Ok(Self {
            addr,
            _process: process,
        })
    }
}
