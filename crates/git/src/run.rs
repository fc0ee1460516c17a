//! The hardened git runner: a fresh environment, credentials only through private 0600 files
//! (the environment names them, never holds them), a timeout that kills the whole process group, bounded output
//! and scrubbed diagnostics.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::auth::Auth;
use crate::capture::{self, Keep};
use crate::env::Env;
use crate::group::Group;
use crate::scrub;

/// Bound on a command's stdout (ref listings of huge repositories stay well below it).
const OUTPUT_LIMIT: usize = 64 << 20;
/// Bound on the stderr kept for diagnostics.
const DIAGNOSTICS_LIMIT: usize = 64 << 10;

#[derive(Debug)]
pub(crate) struct Git {
    env: Env,
    cwd: PathBuf,
    timeout: Duration,
    observer: Option<crate::Observer>,
}

/// One command line. Callers put `--end-of-options` or `--` before any argument that did not
/// come from this crate.
pub(crate) struct Call<'a> {
    args: Vec<OsString>,
    auth: Option<&'a Auth>,
    env: Vec<(&'static str, OsString)>,
    /// Replaces the runner's timeout for this call.
    timeout: Option<Duration>,
}

/// Why a command failed; turned into an [`Error`](crate::Error) by the caller, which knows the
/// repository and revision.
#[derive(Debug)]
pub(crate) enum Failure {
    Spawn(String),
    /// Non-zero exit, with stderr (scrubbed).
    Exit(String),
    Timeout(Duration),
    Overflow,
}

impl Git {
    /// `cwd` is an empty directory: no command ever runs inside a repository by accident.
    pub(crate) fn new(env: Env, cwd: &Path, timeout: Duration) -> Self {
        Self {
            env,
            cwd: cwd.to_path_buf(),
            timeout,
            observer: None,
        }
    }

    pub(crate) fn observed(mut self, observer: Option<crate::Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Runs a request to a remote (`kind` is `ls-remote` or `fetch`) and reports it.
    pub(crate) async fn remote(
        &self,
        kind: &'static str,
        url: &str,
        call: Call<'_>,
    ) -> Result<Vec<u8>, Failure> {
        let started = std::time::Instant::now();
        let span = crate::observe::span(kind, url);
        let result = tracing::Instrument::instrument(self.run(call), span.clone()).await;
        crate::observe::finished(&span, result.is_ok());
        if let Some(observer) = &self.observer {
            observer.observe(&crate::observe::Request {
                url,
                kind,
                duration: started.elapsed(),
                ok: result.is_ok(),
            });
        }
        result
    }

    pub(crate) async fn run(&self, call: Call<'_>) -> Result<Vec<u8>, Failure> {
        let mut command = tokio::process::Command::new("git");
        command
            .env_clear()
            .envs(self.env.vars.iter().map(|(k, v)| (k, v)))
            .args(&call.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let extra = call.auth.map(|a| a.config.as_slice()).unwrap_or_default();
        let config: Vec<&(String, String)> = self.env.config.iter().chain(extra).collect();
        command.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.into_iter().enumerate() {
            command.env(format!("GIT_CONFIG_KEY_{i}"), key);
            command.env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        if let Some(auth) = call.auth {
            command.envs(auth.env.iter().map(|(k, v)| (k, v)));
        }
        command.envs(call.env.iter().map(|(k, v)| (k, v)));

        let mut child = command.spawn().map_err(|e| Failure::Spawn(e.to_string()))?;
        // Declared after `child`, so dropped first: a cancelled call kills the group while the
        // leader is still unreaped and its id cannot have been reused.
        let mut group = Group::new(child.id());
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let limit = call.timeout.unwrap_or(self.timeout);
        let finished = tokio::time::timeout(limit, async {
            tokio::join!(
                capture::read(stdout, OUTPUT_LIMIT, Keep::Head),
                capture::read(stderr, DIAGNOSTICS_LIMIT, Keep::Tail),
                child.wait(),
            )
        })
        .await;
        let Ok((stdout, stderr, status)) = finished else {
            group.kill();
            // In case the group could not be signalled.
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(Failure::Timeout(limit));
        };
        group.release();
        let status = status.map_err(|e| Failure::Spawn(e.to_string()))?;
        if !status.success() {
            let secrets = call.auth.map(|a| a.secrets.as_slice()).unwrap_or_default();
            let stderr = String::from_utf8_lossy(&stderr.bytes);
            let stderr = hide(&stderr, &self.env.root);
            return Err(Failure::Exit(scrub::text(&stderr, secrets)));
        }
        if stdout.overflow {
            return Err(Failure::Overflow);
        }
        Ok(stdout.bytes)
    }
}

/// `text` without the cache directory `root`: a path in a snapshot
/// (`<root>/snapshots/<id>/<sha>/…`) becomes relative to the repository, any other path under
/// `root` starts with `<cache>`.
fn hide(text: &str, root: &Path) -> String {
    let root = root.to_string_lossy();
    if root.is_empty() {
        return text.to_string();
    }
    let snapshots = format!("{root}/snapshots/");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(root.as_ref()) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(inside) = rest.strip_prefix(snapshots.as_str()) {
            // Skip `<id>/<sha>/`.
            let mut parts = inside.splitn(3, '/');
            if let (Some(_), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next()) {
                rest = path;
                continue;
            }
        }
        out.push_str("<cache>");
        rest = &rest[root.len()..];
    }
    out.push_str(rest);
    out
}

impl<'a> Call<'a> {
    pub(crate) fn new() -> Self {
        Self {
            args: Vec::new(),
            auth: None,
            env: Vec::new(),
            timeout: None,
        }
    }

    /// Selects a repository explicitly, so that git never discovers one.
    pub(crate) fn git_dir(self, dir: &Path) -> Self {
        let mut flag = OsString::from("--git-dir=");
        flag.push(dir);
        self.arg(flag)
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub(crate) fn auth(mut self, auth: &'a Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub(crate) fn env(mut self, name: &'static str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((name, value.as_ref().to_os_string()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn git(dir: &Path, timeout: Duration) -> Git {
        let layout = Layout::new(dir);
        layout.create().unwrap();
        Git::new(Env::new(&layout, false), &layout.home, timeout)
    }

    #[tokio::test]
    async fn environment_is_fresh_and_hardened() {
        let dir = tempfile::tempdir().unwrap();
        let git = git(dir.path(), Duration::from_secs(10));
        let out = git
            .run(Call::new().args(["config", "--get", "protocol.allow"]))
            .await
            .unwrap();
        assert_eq!(out, b"never\n");
        // A shell alias shows the environment git passes on: nothing of ours leaks through.
        let out = git
            .run(Call::new().args(["-c", "alias.env=!env", "env"]))
            .await
            .unwrap();
        let env = String::from_utf8_lossy(&out);
        assert!(env.contains("GIT_TERMINAL_PROMPT=0"), "{env}");
        assert!(env.contains(&format!("HOME={}", dir.path().join("home").display())));
        assert!(!env.contains("CARGO"), "{env}");
        let out = git
            .run(Call::new().args(["config", "--show-origin", "--get-all", "credential.helper"]))
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out).trim(), "command line:");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let git = git(dir.path(), Duration::from_millis(300));
        let pidfile = dir.path().join("grandchild");
        // A shell alias forks a background grandchild that would outlive a plain kill.
        let alias = format!(
            "alias.hang=!sleep 30 & echo $! > '{}'; wait",
            pidfile.display()
        );
        let started = std::time::Instant::now();
        let failure = git
            .run(Call::new().args(["-c", &alias, "hang"]))
            .await
            .unwrap_err();
        assert!(matches!(failure, Failure::Timeout(_)), "{failure:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waited for the group"
        );
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        for _ in 0..100 {
            if !repo_testkit::alive(pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("grandchild {pid:?} survived the timeout");
    }

    #[tokio::test]
    async fn failures_are_scrubbed() {
        let dir = tempfile::tempdir().unwrap();
        let git = git(dir.path(), Duration::from_secs(10));
        let remote = repo_source::Remote::parse("https://h/r").unwrap();
        let creds = crate::Creds {
            password: "hunter2".into(),
            ..Default::default()
        };
        let net = crate::auth::Net::bare(dir.path());
        let auth = Auth::new(&remote, &creds, dir.path(), &net).unwrap();
        let leak =
            "alias.leak=!echo 'fatal: hunter2 refused by https://bob:hunter2@h/r' >&2; false";
        let failure = git
            .run(Call::new().args(["-c", leak, "leak"]).auth(&auth))
            .await
            .unwrap_err();
        let Failure::Exit(stderr) = failure else {
            panic!("{failure:?}")
        };
        assert_eq!(stderr.trim(), "fatal: *** refused by https://h/r");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }

    #[tokio::test]
    async fn secrets_never_reach_the_environment_of_git_or_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let git = git(dir.path(), Duration::from_secs(10));
        let remote = repo_source::Remote::parse("https://h/r").unwrap();
        let creds = crate::Creds {
            username: "bob-the-user".into(),
            password: "hunter2-password".into(),
            bearer_token: "bearer-token-value".into(),
            ..Default::default()
        };
        let net = crate::auth::Net::bare(dir.path());
        let auth = Auth::new(&remote, &creds, dir.path(), &net).unwrap();
        // A shell alias is a child of git: what it sees is what git and its children are given.
        let out = git
            .run(
                Call::new()
                    .args(["-c", "alias.env=!env", "env"])
                    .auth(&auth),
            )
            .await
            .unwrap();
        let env = String::from_utf8_lossy(&out);
        for secret in ["bob-the-user", "hunter2-password", "bearer-token-value"] {
            assert!(!env.contains(secret), "{secret} in the environment:\n{env}");
        }
        // Git still sees the header, and the askpass helper still answers.
        let out = git
            .run(
                Call::new()
                    .args(["config", "--get", "http.extraHeader"])
                    .auth(&auth),
            )
            .await
            .unwrap();
        assert_eq!(out, b"Authorization: Bearer bearer-token-value\n");
        let askpass = dir.path().join("askpass");
        crate::askpass::install(&askpass).unwrap();
        for (prompt, answer) in [
            ("Username for 'https://h': ", "bob-the-user\n"),
            (
                "Password for 'https://bob-the-user@h': ",
                "hunter2-password\n",
            ),
        ] {
            let alias = format!("alias.ask=!'{}'", askpass.display());
            let out = git
                .run(Call::new().args(["-c", &alias, "ask", prompt]).auth(&auth))
                .await
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out), answer);
        }
    }

    #[tokio::test]
    async fn failures_name_no_cache_path() {
        let dir = tempfile::tempdir().unwrap();
        let git = git(dir.path(), Duration::from_secs(10));
        let gone = dir.path().join("repos/gone");
        let failure = git
            .run(Call::new().git_dir(&gone).args(["rev-parse", "HEAD"]))
            .await
            .unwrap_err();
        let Failure::Exit(stderr) = failure else {
            panic!("{failure:?}")
        };
        let root = dir.path().to_string_lossy().into_owned();
        assert!(!stderr.contains(&root), "{stderr}");
        assert!(stderr.contains("<cache>/repos/gone"), "{stderr}");
        let snapshot = format!("error: {root}/snapshots/ab12/cd34/app/x.yaml: bad; {root}/tmp/y");
        assert_eq!(
            hide(&snapshot, Path::new(&root)),
            "error: app/x.yaml: bad; <cache>/tmp/y"
        );
    }
}
