//! Starting and stopping the systems under test: this project's server, and its peers.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use parking_lot::Mutex;
use rustix::process::{kill_process_group, Pid, Signal};

use crate::pki::Pki;

pub(crate) const OURS: &str = "repo-server-rs";
pub(crate) const GO: &str = "go-grpc";
pub(crate) const GRPCIO: &str = "grpcio";
pub(crate) const SIDECAR: &str = "sidecar-nghttpx";
pub(crate) const FLOOR: &str = "floor";

/// Where the binaries and peers are.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub root: PathBuf,
    pub server_bin: PathBuf,
    pub work: PathBuf,
}

impl Layout {
    pub(crate) fn tools(&self) -> PathBuf {
        self.root.join(".tools/bin")
    }
    pub(crate) fn go_peer(&self) -> PathBuf {
        self.root.join("target/bench/go-health")
    }
    pub(crate) fn python(&self) -> PathBuf {
        self.root.join(".tools/bench-venv/bin/python")
    }
    /// Our config management plugin sidecar, built beside the server.
    pub(crate) fn cmp_server(&self) -> PathBuf {
        self.server_bin.with_file_name("argocd-cmp-server")
    }
}

/// The process groups of every [`Process`] alive, so an interrupt can stop them all.
static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Kills every process group still running (on Ctrl-C or SIGTERM, before exiting).
pub(crate) fn kill_all() {
    for group in std::mem::take(&mut *GROUPS.lock()) {
        kill_group(group);
    }
}

fn kill_group(group: i32) {
    if let Some(pid) = Pid::from_raw(group) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// A child process in its own process group, killed with everything it started (a forked
/// `git daemon` child outlives its parent otherwise) when dropped.
#[derive(Debug)]
pub(crate) struct Process {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Process {
    pub(crate) fn spawn(name: &str, mut command: Command, work: &Path) -> anyhow::Result<Self> {
        let log = work.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        GROUPS.lock().insert(group_of(&child));
        Ok(Self {
            child,
            name: name.into(),
            log,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `done()` holds, or fails with the end of the log.
    pub(crate) fn ready_when(&mut self, done: impl Fn() -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}): {}", self.name, self.tail());
            }
            if done() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{} did not become ready: {}", self.name, self.tail())
    }

    /// Waits until `addr` accepts connections, or fails with the end of the log.
    pub(crate) fn ready(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        self.ready_when(|| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
            .with_context(|| format!("listening on {addr}"))
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

/// The child leads its own group (`process_group(0)`), so the group id is its pid.
fn group_of(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("a pid fits in i32")
}

impl Drop for Process {
    fn drop(&mut self) {
        let group = group_of(&self.child);
        GROUPS.lock().remove(&group);
        kill_group(group);
        let _ = self.child.wait();
    }
}

/// A running system: where to call it and which processes to charge for its CPU.
#[derive(Debug)]
pub(crate) struct System {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// This project's Prometheus endpoint (plain HTTP); peers have none.
    pub metrics: Option<SocketAddr>,
    procs: Vec<Process>,
}

impl System {
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Process::pid).collect()
    }

    /// The process whose memory is the server's.
    pub(crate) fn main_pid(&self) -> u32 {
        self.procs[0].pid()
    }
}

pub(crate) fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// How to run this project's server.
pub(crate) struct Ours<'a> {
    pub pki: Option<&'a Pki>,
    pub cache: PathBuf,
}

/// What some benchmarks change in how this project's server runs.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// The shared cache (`--redis`).
    pub redis: Option<SocketAddr>,
    /// `taskset -c` CPU list the server is pinned to.
    pub cpus: Option<String>,
    /// Where the plugin sidecars' sockets are (`ARGOCD_PLUGINSOCKFILEPATH`).
    pub plugins: Option<PathBuf>,
}

/// The Secret mount of the serving certificate and client CA, as the server reads it:
/// `<conf>/reposerver/tls/{tls.crt,tls.key,client-ca.crt}`.
pub(crate) fn tls_dir(conf: &Path) -> PathBuf {
    conf.join("reposerver/tls")
}

impl Ours<'_> {
    pub(crate) fn start(&self, layout: &Layout, tag: &str) -> anyhow::Result<System> {
        self.start_with(layout, tag, &Extra::default())
    }

    pub(crate) fn start_with(
        &self,
        layout: &Layout,
        tag: &str,
        extra: &Extra,
    ) -> anyhow::Result<System> {
        let addr = free_addr();
        let metrics = free_addr();
        // taskset execs the server: the pid stays the server's.
        let mut command = match &extra.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(&layout.server_bin);
                c
            }
            None => Command::new(&layout.server_bin),
        };
        if let Some(redis) = extra.redis {
            command.args(["--redis", &redis.to_string()]);
        }
        command
            .env_clear()
            .env("PATH", path_with(&layout.tools()))
            .env("HOME", &layout.work)
            .env("ARGOCD_REPO_SERVER_LISTEN_ADDRESS", "127.0.0.1")
            .env("ARGOCD_REPO_SERVER_METRICS_LISTEN_ADDRESS", "127.0.0.1")
            .env("ARGOCD_REPO_SERVER_ALLOW_FILE_REPOS", "true")
            .env("ARGOCD_REPO_SERVER_REPO_CACHE_DIR", &self.cache)
            .args(["--port", &addr.port().to_string()])
            .args(["--metrics-port", &metrics.port().to_string()]);
        if let Some(plugins) = &extra.plugins {
            command.env("ARGOCD_PLUGINSOCKFILEPATH", plugins);
        }
        match self.pki {
            Some(pki) => {
                let conf = layout.work.join(format!("conf-{tag}"));
                let tls = tls_dir(&conf);
                if !tls.join("tls.crt").exists() {
                    std::fs::create_dir_all(&tls)?;
                    std::fs::copy(pki.server_cert(), tls.join("tls.crt"))?;
                    std::fs::copy(pki.server_key(), tls.join("tls.key"))?;
                    std::fs::copy(pki.ca(), tls.join("client-ca.crt"))?;
                }
                command.env("ARGOCD_APP_CONF_PATH", &conf).env(
                    "ARGOCD_REPO_SERVER_CLIENT_CA_PATH",
                    tls.join("client-ca.crt"),
                );
            }
            None => {
                command.arg("--disable-tls");
            }
        }
        let mut process = Process::spawn(&format!("{OURS}-{tag}"), command, &layout.work)?;
        process.ready(addr)?;
        Ok(System {
            name: OURS,
            addr,
            metrics: Some(metrics),
            procs: vec![process],
        })
    }
}

/// The Go gRPC health server (crypto/tls, RequireAndVerifyClientCert).
pub(crate) fn go(layout: &Layout, pki: &Pki, tag: &str) -> anyhow::Result<System> {
    let addr = free_addr();
    let mut command = Command::new(layout.go_peer());
    command
        .args(["-listen", &addr.to_string()])
        .arg("-cert")
        .arg(pki.server_cert())
        .arg("-key")
        .arg(pki.server_key())
        .arg("-ca")
        .arg(pki.ca())
        .env("GOMAXPROCS", "2");
    peer(GO, command, addr, layout, tag)
}

/// The Python grpcio health server (C-core, BoringSSL).
pub(crate) fn grpcio(layout: &Layout, pki: &Pki, tag: &str) -> anyhow::Result<System> {
    let addr = free_addr();
    let mut command = Command::new(layout.python());
    command
        .arg(layout.root.join("bench/peers/grpcio/server.py"))
        .args(["--listen", &addr.to_string()])
        .arg("--cert")
        .arg(pki.server_cert())
        .arg("--key")
        .arg(pki.server_key())
        .arg("--ca")
        .arg(pki.ca());
    peer(GRPCIO, command, addr, layout, tag)
}

/// nghttpx terminating mTLS in front of our server running plaintext (h2c).
pub(crate) fn sidecar(layout: &Layout, pki: &Pki, tag: &str) -> anyhow::Result<System> {
    let backend = Ours {
        pki: None,
        cache: layout.work.join(format!("cache-sidecar-{tag}")),
    }
    .start(layout, &format!("behind-nghttpx-{tag}"))?;
    let addr = free_addr();
    let args = Command::new(layout.root.join("bench/peers/nghttpx/args"))
        .env("FRONT_PORT", addr.port().to_string())
        .env("BACK_PORT", backend.addr.port().to_string())
        .env("CERT", pki.server_cert())
        .env("KEY", pki.server_key())
        .env("CA", pki.ca())
        .output()
        .context("bench/peers/nghttpx/args")?;
    if !args.status.success() {
        bail!(
            "bench/peers/nghttpx/args: {}",
            String::from_utf8_lossy(&args.stderr)
        );
    }
    let mut command = Command::new("nghttpx");
    command.args(
        String::from_utf8(args.stdout)?
            .lines()
            .filter(|l| !l.is_empty()),
    );
    let mut front = peer(SIDECAR, command, addr, layout, tag)?;
    // CPU of the pair: the proxy and the server behind it.
    front.procs.extend(backend.procs);
    Ok(front)
}

fn peer(
    name: &'static str,
    command: Command,
    addr: SocketAddr,
    layout: &Layout,
    tag: &str,
) -> anyhow::Result<System> {
    let mut process = Process::spawn(&format!("{name}-{tag}"), command, &layout.work)?;
    process.ready(addr)?;
    Ok(System {
        name,
        addr,
        metrics: None,
        procs: vec![process],
    })
}

/// Debian's `redis-server` on loopback, in memory only (no RDB, no AOF).
pub(crate) fn redis(layout: &Layout, tag: &str) -> anyhow::Result<(Process, SocketAddr)> {
    let addr = free_addr();
    let dir = layout.work.join(format!("redis-{tag}"));
    std::fs::create_dir_all(&dir)?;
    let mut command = Command::new("redis-server");
    command
        .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(&dir);
    let mut process = Process::spawn(&format!("redis-{tag}"), command, &layout.work)?;
    process.ready(addr)?;
    Ok((process, addr))
}

fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries without ':'")
}

/// Starts `name` serving mTLS with `pki`; this project's server gets an empty cache of its own.
pub(crate) fn start(name: &str, layout: &Layout, pki: &Pki, tag: &str) -> anyhow::Result<System> {
    match name {
        OURS => Ours {
            pki: Some(pki),
            cache: layout.work.join(format!("cache-{tag}")),
        }
        .start(layout, tag),
        GO => go(layout, pki, tag),
        GRPCIO => grpcio(layout, pki, tag),
        SIDECAR => sidecar(layout, pki, tag),
        other => bail!("unknown system {other}"),
    }
}

/// The systems that serve mTLS Health/Check.
pub(crate) const SERVERS: [&str; 4] = [OURS, GO, GRPCIO, SIDECAR];

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // A killed process stays a zombie until reaped; only a running one counts.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false)
    }

    #[test]
    fn dropping_a_process_stops_what_it_forked() {
        let work = tempfile::tempdir().unwrap();
        let pidfile = work.path().join("grandchild");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("sleep 600 & echo $! > {}; wait", pidfile.display()));
        let process = Process::spawn("forker", command, work.path()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let grandchild = loop {
            if let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the shell never started sleep");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(alive(grandchild));
        drop(process);
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(grandchild) {
            assert!(
                Instant::now() < deadline,
                "the forked child outlived its parent"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
