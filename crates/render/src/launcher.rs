//! The child side of the tool sandbox. `argocd-repo-server` runs itself as
//! `argocd-repo-server --internal-sandbox [--exec|--read|--write PATH]... -- PROGRAM ARGS...`
//! (`repo-sandbox` is the same program on its own, for tests): it confines itself with Landlock
//! to the paths named, then becomes the tool with `exec`, so the kernel holds the tool and
//! everything it starts to those paths. No `unsafe` and no `pre_exec` hook are needed.
//! Without `--` it only reports what the kernel enforces (`landlock <abi>` or
//! `unavailable: <reason>`), for [`Sandbox::detect`](crate::Sandbox::detect).
//!
//! The Jsonnet evaluator confines itself through [`restrict`] the same way.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use landlock::{
    Access, AccessFs, BitFlags, LandlockStatus, PathBeneath, PathFd, PathFdError, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

/// The argument that turns `argocd-repo-server` into the sandbox launcher.
pub const SANDBOX_ARG: &str = "--internal-sandbox";

/// The ABI the rules are written for: file rights up to ABI 5 (device ioctls) and the signal
/// and abstract-socket scopes of ABI 6. An older kernel enforces the part it knows.
const WRITTEN_FOR: ABI = ABI::V6;

/// How a tool may use a path (and everything below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Read and execute: programs and libraries.
    Exec,
    /// Read only: repository content.
    Read,
    /// Read, create, change and delete, but never execute: the request's scratch.
    Write,
}

impl Grant {
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Grant::Exec => "--exec",
            Grant::Read => "--read",
            Grant::Write => "--write",
        }
    }

    fn parse(flag: &str) -> Option<Self> {
        [Grant::Exec, Grant::Read, Grant::Write]
            .into_iter()
            .find(|g| g.flag() == flag)
    }

    fn access(self) -> BitFlags<AccessFs> {
        let read = AccessFs::ReadFile | AccessFs::ReadDir;
        match self {
            Grant::Exec => read | AccessFs::Execute,
            Grant::Read => read,
            Grant::Write => AccessFs::from_all(WRITTEN_FOR) & !AccessFs::Execute,
        }
    }
}

/// Confines this process, and every program it runs from now on, to `rules`; paths that do
/// not exist are skipped. Signals and abstract unix sockets outside the sandbox are out of
/// reach too (ABI 6). Returns the Landlock ABI in force, or `None` when the kernel has no
/// Landlock and nothing could be enforced.
pub(crate) fn restrict(rules: &[(Grant, PathBuf)]) -> Result<Option<i32>, String> {
    let mut beneath = Vec::with_capacity(rules.len());
    for (grant, path) in rules {
        let fd = match PathFd::new(path) {
            Ok(fd) => fd,
            Err(PathFdError::OpenCall { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        // Rights that only make sense on directories are refused on files.
        let access = if path.is_dir() {
            grant.access()
        } else {
            grant.access() & AccessFs::from_file(WRITTEN_FOR)
        };
        beneath.push(PathBeneath::new(fd, access));
    }
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(WRITTEN_FOR))
        .and_then(|r| r.scope(Scope::from_all(WRITTEN_FOR)))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(beneath.into_iter().map(Ok::<_, landlock::RulesetError>)))
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    match (status.ruleset, status.landlock) {
        (RulesetStatus::NotEnforced, _) => Ok(None),
        (_, LandlockStatus::Available { effective_abi, .. }) => Ok(Some(effective_abi as i32)),
        (_, other) => Err(format!("Landlock reported {other:?} after enforcing")),
    }
}

/// Why the kernel enforces nothing, as the probe reports it.
fn unavailable() -> String {
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if lsm.is_empty() || lsm.contains("landlock") {
        "the kernel refuses Landlock (not built in, or blocked by a seccomp profile)".into()
    } else {
        format!(
            "Landlock is not among the kernel's active security modules ({})",
            lsm.trim()
        )
    }
}

/// Runs the launcher: confines itself as its arguments say, then executes the tool. Fails
/// (exit 126, a message on stderr) when it cannot do both; never runs the tool unconfined
/// on a kernel that has Landlock.
pub fn sandbox_main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(2).collect();
    let (rules, command) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => return fail(&e),
    };
    let enforced = match restrict(&rules) {
        Ok(enforced) => enforced,
        Err(e) => return fail(&format!("confining the tool: {e}")),
    };
    let Some((program, args)) = command.split_first() else {
        // The probe.
        match enforced {
            Some(abi) => println!("landlock {abi}"),
            None => println!("unavailable: {}", unavailable()),
        }
        return ExitCode::SUCCESS;
    };
    // Only returns on failure; environment, working directory and descriptors carry over.
    let e = std::process::Command::new(program).args(args).exec();
    fail(&format!("starting {}: {e}", Path::new(program).display()))
}

/// What a tool may use: `(grant, path)` pairs.
pub(crate) type Rules = Vec<(Grant, PathBuf)>;

/// The rules up to `--`, and the command after it (empty for the probe).
fn parse(args: &[OsString]) -> Result<(Rules, Vec<OsString>), String> {
    let mut rules = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            let command: Vec<OsString> = rest.cloned().collect();
            if command.is_empty() {
                return Err("no program after --".into());
            }
            return Ok((rules, command));
        }
        let grant = arg
            .to_str()
            .and_then(Grant::parse)
            .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let path = rest
            .next()
            .ok_or_else(|| format!("{} needs a path", grant.flag()))?;
        rules.push((grant, PathBuf::from(path)));
    }
    Ok((rules, Vec::new()))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sandbox: {message}");
    ExitCode::from(126)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments() {
        let (rules, command) = parse(&args(&[
            "--exec", "/usr", "--write", "/w", "--", "helm", "--", "x",
        ]))
        .unwrap();
        assert_eq!(
            rules,
            [
                (Grant::Exec, PathBuf::from("/usr")),
                (Grant::Write, PathBuf::from("/w"))
            ]
        );
        assert_eq!(command, args(&["helm", "--", "x"]));
        assert!(parse(&args(&["--read", "/r"])).unwrap().1.is_empty());
        for bad in [&["--read"][..], &["/usr"], &["--read", "/r", "--"]] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scratch_is_never_executable() {
        assert!(!Grant::Write.access().contains(AccessFs::Execute));
        assert!(!Grant::Read.access().contains(AccessFs::Execute));
        assert!(Grant::Write
            .access()
            .contains(AccessFs::WriteFile | AccessFs::ReadDir));
    }
}
