//! The tool sandbox, server side: whether the kernel confines tools (Linux Landlock, probed
//! once through the launcher), and the launcher command line that holds one tool process to
//! what its render may use: the system's programs and libraries, the tool binaries, the
//! render's own content roots (read only) and its request directory (no execution). The
//! repository cache, other requests' scratch and the server's files stay out of reach.
//!
//! Without Landlock (kernels before 5.19, or a seccomp profile refusing it) tools run
//! unconfined; what then keeps one repository's snapshot from another's tools is that its
//! path cannot be derived (`repo-git` keys snapshot directories with a secret, request
//! directories carry [`unguessable`] names). See docs/security.md.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::launcher::{Grant, Rules, SANDBOX_ARG};
use crate::Tools;

/// Least Landlock ABI tools run confined with: ABI 1 refuses every move of a file between
/// directories, which `helm dependency build` does.
const MIN_ABI: i32 = 2;

/// Programs and libraries every tool may read and run.
const SYSTEM: [&str; 8] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/nix/store",
];

/// Files every tool may read: certificates, name resolution, users, time zone, the loader's
/// cache, git and ssh client settings; what `/proc` says of the process itself; cgroup and CPU
/// limits (Go runtimes size themselves from them); the random and zero devices.
const SHARED: [&str; 25] = [
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/crypto-policies",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/gitconfig",
    "/etc/ssh/ssh_config",
    "/etc/ssh/ssh_config.d",
    "/proc/self",
    "/sys/fs/cgroup",
    "/sys/devices/system/cpu",
    "/dev/urandom",
    "/dev/zero",
];

/// How tool processes are confined on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// Tools start through the launcher ([`SANDBOX_ARG`]), which confines itself with
    /// Landlock and then becomes the tool.
    Landlock(Landlock),
    /// Tools run unconfined, for this reason.
    Unavailable(String),
}

/// The launcher, the kernel's Landlock ABI, and the system paths every tool may use (found
/// once, with their real locations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landlock {
    launcher: PathBuf,
    abi: i32,
    shared: Vec<Shared>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Shared {
    grant: Grant,
    path: PathBuf,
    /// Where `path` leads, to keep grants away from the cache.
    real: PathBuf,
}

impl Sandbox {
    /// Asks `launcher` (this server, or `repo-sandbox`) what the kernel enforces, and logs
    /// the answer: the protection every tool run will have.
    pub fn detect(launcher: Option<&Path>) -> Self {
        let sandbox = match launcher {
            None => Sandbox::Unavailable("no sandbox launcher (argocd-repo-server) found".into()),
            Some(launcher) => probe(launcher),
        };
        tracing::info!(landlock = sandbox.confines(), "tool sandbox: {sandbox}");
        sandbox
    }

    /// Whether tools run confined.
    pub fn confines(&self) -> bool {
        matches!(self, Sandbox::Landlock(_))
    }

    /// The command that runs `program` with `args` confined to `reach` (through the
    /// launcher); it runs the program directly when the kernel confines nothing or the
    /// program confines itself (no `reach`).
    pub(crate) fn command(
        &self,
        tools: &Tools,
        reach: Option<&Reach>,
        program: &Path,
        args: &[String],
    ) -> Command {
        let (Sandbox::Landlock(landlock), Some(reach)) = (self, reach) else {
            let mut command = Command::new(program);
            command.args(args);
            return command;
        };
        let mut command = Command::new(&landlock.launcher);
        command.arg(SANDBOX_ARG);
        for (grant, path) in landlock.rules(tools, reach, program, args) {
            command.arg(grant.flag()).arg(path);
        }
        command.arg("--").arg(program).args(args);
        command
    }
}

impl fmt::Display for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sandbox::Landlock(Landlock { abi, .. }) => write!(
                f,
                "Landlock ABI {abi}: each tool reads only its own render's files"
            ),
            Sandbox::Unavailable(why) => write!(
                f,
                "unavailable: {why}; tools run unconfined and only unguessable paths keep \
                 repositories apart"
            ),
        }
    }
}

fn probe(launcher: &Path) -> Sandbox {
    let out = match Command::new(launcher).arg(SANDBOX_ARG).env_clear().output() {
        Ok(out) => out,
        Err(e) => {
            return Sandbox::Unavailable(format!("{} did not start: {e}", launcher.display()))
        }
    };
    let said = String::from_utf8_lossy(&out.stdout);
    let said = said.trim();
    if let Some(why) = said.strip_prefix("unavailable: ") {
        return Sandbox::Unavailable(why.to_string());
    }
    match said
        .strip_prefix("landlock ")
        .and_then(|n| n.parse::<i32>().ok())
    {
        Some(abi) if abi >= MIN_ABI => Sandbox::Landlock(Landlock {
            launcher: launcher.to_path_buf(),
            abi,
            shared: shared(),
        }),
        Some(abi) => Sandbox::Unavailable(format!(
            "the kernel's Landlock ABI {abi} forbids moving files between directories \
             (ABI {MIN_ABI}, Linux 5.19, is needed)"
        )),
        None => Sandbox::Unavailable(format!(
            "the probe failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// What one tool process may use besides the system's programs and libraries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reach {
    /// Content it reads: the render's snapshot, other sources' snapshots it uses.
    pub read: Vec<PathBuf>,
    /// Its request directory (home, TMPDIR, private mirror).
    pub write: Vec<PathBuf>,
}

/// The system paths that exist here, each once.
fn shared() -> Vec<Shared> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::iter::empty()
        .chain(SYSTEM.iter().map(|p| (Grant::Exec, PathBuf::from(p))))
        .chain(
            std::env::split_paths(&path)
                .filter(|d| d.is_absolute())
                .map(|d| (Grant::Exec, d)),
        )
        .chain(SHARED.iter().map(|p| (Grant::Read, PathBuf::from(p))));
    let mut out: Vec<Shared> = Vec::new();
    for (grant, path) in found {
        let Ok(real) = path.canonicalize() else {
            continue;
        };
        if !out.iter().any(|s| s.real == real) {
            out.push(Shared { grant, path, real });
        }
    }
    out
}

impl Landlock {
    /// Every path the launcher grants. System paths that contain the repository cache or the
    /// scratch area, or lie inside them, are left out, so no setting widens the sandbox to
    /// other repositories' files; tool binaries are single files.
    fn rules(&self, tools: &Tools, reach: &Reach, program: &Path, args: &[String]) -> Rules {
        let dirs = std::iter::once(&tools.scratch).chain(&tools.untrusted);
        let protected: Vec<PathBuf> = dirs
            .clone()
            .cloned()
            .chain(dirs.filter_map(|d| d.canonicalize().ok()))
            .collect();
        let clear = |s: &&Shared| {
            !protected
                .iter()
                .any(|p| p.starts_with(&s.real) || s.real.starts_with(p))
        };
        // Checked by their text: `Tools::program` already refused any inside by its real path.
        let programs = [&tools.helm, &tools.kustomize, &tools.kubectl]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .chain([program])
            .chain(helm_command(args))
            .filter(|p| !protected.iter().any(|d| p.starts_with(d)));
        let shared = self.shared.iter().filter(clear);
        shared
            .map(|s| (s.grant, s.path.clone()))
            .chain(programs.map(|p| (Grant::Exec, p.to_path_buf())))
            .chain([(Grant::Write, PathBuf::from("/dev/null"))])
            .chain(reach.read.iter().map(|p| (Grant::Read, p.clone())))
            .chain(reach.write.iter().map(|p| (Grant::Write, p.clone())))
            .collect()
    }
}

/// The helm binary a `kustomize build --helm-command` names (checked by `Tools::program`).
fn helm_command(args: &[String]) -> Option<&Path> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--helm-command" {
            return it.next().map(Path::new);
        }
        if let Some(value) = arg.strip_prefix("--helm-command=") {
            return Some(Path::new(value));
        }
    }
    None
}

/// 128 random bits in hex, from the kernel's CSPRNG: a name no one can guess.
pub(crate) fn unguessable() -> String {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("the kernel's random source failed: {e}"),
        }
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(scratch: &Path, cache: &Path) -> Tools {
        let mut tools = Tools::discover();
        tools.scratch = scratch.to_path_buf();
        tools.untrusted = vec![cache.to_path_buf()];
        tools
    }

    #[test]
    fn grants_never_cover_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (scratch, cache) = (dir.path().join("scratch"), dir.path().join("cache"));
        let own = cache.join("snapshots/a/1");
        std::fs::create_dir_all(&own).unwrap();
        let tools = tools(&scratch, &cache);
        // A system path above the cache, and a helm command inside it.
        let root = Shared {
            grant: Grant::Exec,
            path: "/".into(),
            real: "/".into(),
        };
        let landlock = Landlock {
            launcher: "/l".into(),
            abi: 6,
            shared: shared().into_iter().chain([root]).collect(),
        };
        let reach = Reach {
            read: vec![own.clone()],
            write: vec![scratch.join("req-x")],
        };
        let args = vec![
            "build".to_string(),
            "--helm-command".into(),
            cache.join("helm").display().to_string(),
        ];
        let rules = landlock.rules(&tools, &reach, Path::new("/usr/bin/true"), &args);
        let granted = |g: Grant, p: &Path| rules.contains(&(g, p.to_path_buf()));
        assert!(granted(Grant::Read, &own));
        assert!(granted(Grant::Write, &scratch.join("req-x")));
        assert!(granted(Grant::Exec, Path::new("/usr/bin/true")));
        assert!(granted(Grant::Exec, Path::new("/usr")));
        for (grant, path) in &rules {
            let inside = path.starts_with(&cache) || path.starts_with(&scratch);
            let above = cache.starts_with(path) || scratch.starts_with(path);
            let own = path == &own || path == &scratch.join("req-x");
            assert!(own || !(inside || above), "{grant:?} {}", path.display());
        }
    }

    #[test]
    fn helm_command_in_both_spellings() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            helm_command(&args(&["build", "--helm-command", "/h/helm"])),
            Some(Path::new("/h/helm"))
        );
        assert_eq!(
            helm_command(&args(&["--helm-command=/h/helm3"])),
            Some(Path::new("/h/helm3"))
        );
        assert_eq!(helm_command(&args(&["build", "."])), None);
    }

    #[test]
    fn names_are_unguessable() {
        let (a, b) = (unguessable(), unguessable());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
