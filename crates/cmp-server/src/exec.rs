//! Running a plugin command (`init`, `generate`, `discover.find`, `parameters.dynamic`) as
//! upstream's `runCommand` does — in the app directory, the sidecar's environment plus the
//! request's, stdin empty, its own process group — with the bounds upstream lacks: stdout
//! capped, only the tail of stderr kept, and the whole group stopped on timeout (SIGTERM,
//! then SIGKILL after `ARGOCD_EXEC_FATAL_TIMEOUT`) or when the request goes away.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use repo_render::capped;
use rustix::process::{kill_process_group, Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use crate::config::Command;

/// How much of a command's stderr (its end) is kept for the error message, which is cut to
/// [`crate::failure::MAX_MESSAGE`] on the wire.
pub const STDERR_CAP: usize = 4 << 10;

/// What stopped a command that ran out of time: the request's deadline, or else
/// `ARGOCD_EXEC_TIMEOUT`.
pub const REQUEST_DEADLINE: &str = "the request's deadline";
const EXEC_TIMEOUT: &str = "ARGOCD_EXEC_TIMEOUT";

/// Bounds on every command.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `ARGOCD_EXEC_TIMEOUT`.
    pub timeout: Duration,
    /// `ARGOCD_EXEC_FATAL_TIMEOUT`: from SIGTERM to SIGKILL.
    pub fatal_timeout: Duration,
    /// Bytes of stdout a command may write.
    pub max_output: usize,
}

/// Why a command gave no usable output. Messages follow upstream's
/// `` `<command>` failed <cause>: <stderr> ``.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("Command is empty")]
    Empty,
    #[error("`{line}` failed {cause}")]
    Start { line: String, cause: String },
    #[error("`{line}` failed {status}{}", colon(.stderr))]
    Failed {
        line: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("`{line}` timed out after {after:?} ({why}) and was stopped with its process group{}", colon(.stderr))]
    Timeout {
        line: String,
        after: Duration,
        why: &'static str,
        stderr: String,
    },
    #[error("`{line}` wrote more than {limit} bytes to stdout (raise ARGOCD_CMP_SERVER_MAX_OUTPUT_MB) and was stopped with its process group")]
    TooLarge { line: String, limit: usize },
}

fn colon(stderr: &str) -> String {
    match stderr {
        "" => String::new(),
        s => format!(": {s}"),
    }
}

/// Runs `command` in `dir` with `env` on top of the sidecar's environment, until it exits,
/// `limits.timeout` passes or `deadline` (the request's) comes, whichever is first. Returns
/// stdout without its final newline.
pub async fn run(
    command: &Command,
    dir: &Path,
    env: &[(String, String)],
    limits: &Limits,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, ExecError> {
    let Some((program, rest)) = command.command.split_first() else {
        return Err(ExecError::Empty);
    };
    let line = command.display();
    let started = Instant::now();
    let (stop_at, why) = match deadline {
        Some(d) if d < started + limits.timeout => (d, REQUEST_DEADLINE),
        _ => (started + limits.timeout, EXEC_TIMEOUT),
    };
    tracing::info!(command = %line, dir = %dir.display(), "running plugin command");
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .args(&command.args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ExecError::Start {
            cause: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("exec: {program:?}: executable file not found in $PATH")
                }
                _ => e.to_string(),
            },
            line: line.clone(),
        })?;
    let mut stdout = tokio::spawn(capped(
        child.stdout.take().expect("piped"),
        limits.max_output,
    ));
    let mut stderr = tokio::spawn(tail(child.stderr.take().expect("piped"), STDERR_CAP));
    let mut group = Group {
        pid: child.id().and_then(|id| Pid::from_raw(id as i32)),
        readers: [stdout.abort_handle(), stderr.abort_handle()],
    };
    // Kept apart: a finished reader cannot be awaited again after a timeout.
    let mut err = None;
    let finished = async {
        let out = joined(&mut stdout).await;
        err = Some(joined(&mut stderr).await);
        let status = child.wait().await;
        (out, status)
    };
    let (out, status) = match tokio::time::timeout_at(stop_at, finished).await {
        Ok((None, _)) => {
            group.signal(Signal::KILL);
            let _ = child.wait().await;
            return Err(ExecError::TooLarge {
                line,
                limit: limits.max_output,
            });
        }
        Ok((Some(out), status)) => (out, status),
        Err(_) => {
            group.signal(Signal::TERM);
            // Time to clean up, as upstream gives; the group is killed if it needs longer.
            let ended = tokio::time::timeout(limits.fatal_timeout, child.wait()).await;
            group.signal(Signal::KILL);
            if ended.is_err() {
                let _ = child.wait().await;
            }
            let err = match err {
                Some(err) => err,
                // The pipe closes with the group; a process that left it may hold it open.
                None => tokio::time::timeout(Duration::from_secs(1), joined(&mut stderr))
                    .await
                    .unwrap_or_default(),
            };
            return Err(ExecError::Timeout {
                line,
                after: stop_at - started,
                why,
                stderr: text(&err),
            });
        }
    };
    group.reaped();
    let status = status.map_err(|e| ExecError::Start {
        line: line.clone(),
        cause: e.to_string(),
    })?;
    let stderr = text(&err.unwrap_or_default());
    if !status.success() {
        tracing::error!(command = %line, %status, "plugin command failed");
        return Err(ExecError::Failed {
            line,
            status,
            stderr,
        });
    }
    tracing::info!(command = %line, duration = ?started.elapsed(), stderr = %stderr, "plugin command successful");
    let mut out = out;
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    Ok(out)
}

/// A reader task's result; a panicked or aborted reader counts as empty output.
async fn joined<T: Default>(task: &mut JoinHandle<T>) -> T {
    task.await.unwrap_or_default()
}

fn text(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr).trim().to_string()
}

/// The command's process group, killed (with its pipe readers stopped) unless the command
/// was reaped after exiting by itself — also when the request is dropped mid-run.
struct Group {
    pid: Option<Pid>,
    readers: [AbortHandle; 2],
}

impl Group {
    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid {
            // ESRCH: everything in it already exited.
            let _ = kill_process_group(pid, signal);
        }
    }

    /// The leader exited and was reaped, and both pipes reached their end: whatever is left
    /// in the group closed them, and is left alone rather than risk signalling a reused id.
    fn reaped(&mut self) {
        self.pid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// The last `limit` bytes of `r`, read to its end so the command never blocks on the pipe.
async fn tail(mut r: impl AsyncRead + Unpin, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8 << 10];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 2 * limit {
            out.drain(..out.len() - limit);
        }
    }
    if out.len() > limit {
        out.drain(..out.len() - limit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            timeout: Duration::from_secs(60),
            fatal_timeout: Duration::from_secs(10),
            max_output: 1 << 20,
        }
    }

    fn sh(script: &str) -> Command {
        Command {
            command: vec!["sh".into(), "-c".into()],
            args: vec![script.into()],
        }
    }

    async fn out(command: &Command, env: &[(String, String)]) -> Result<String, ExecError> {
        let dir = std::env::temp_dir();
        let bytes = run(command, &dir, env, &limits(), None).await?;
        Ok(String::from_utf8(bytes).unwrap())
    }

    // Upstream's TestRunCommandEmptyCommand.
    #[tokio::test]
    async fn empty_command() {
        let err = out(&Command::default(), &[]).await.unwrap_err();
        assert_eq!(err.to_string(), "Command is empty");
    }

    #[tokio::test]
    async fn missing_program_reads_as_upstream() {
        let cmd = Command {
            command: vec!["bad-command".into()],
            args: vec![],
        };
        let err = out(&cmd, &[]).await.unwrap_err().to_string();
        assert!(err.contains("executable file not found"), "{err}");
    }

    #[tokio::test]
    async fn request_env_on_top_of_the_sidecars() {
        let env = [("HOME".to_string(), "from-request".to_string())];
        let got = out(&sh("printf '%s:%s' \"$HOME\" \"${PATH:+path}\""), &env)
            .await
            .unwrap();
        assert_eq!(got, "from-request:path");
    }

    #[tokio::test]
    async fn one_final_newline_is_dropped() {
        assert_eq!(out(&sh("echo a; echo"), &[]).await.unwrap(), "a\n");
    }

    #[tokio::test]
    async fn failure_carries_the_stderr_tail() {
        let script = "head -c 100000 /dev/zero | tr '\\0' x >&2; echo the-end >&2; exit 3";
        let err = out(&sh(script), &[]).await.unwrap_err();
        let ExecError::Failed { stderr, status, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(status.code(), Some(3));
        assert!(
            stderr.ends_with("the-end") && stderr.len() <= STDERR_CAP,
            "{}",
            stderr.len()
        );
        assert!(err.to_string().starts_with("`sh -c \"head -c"), "{err:.60}");
    }

    #[tokio::test]
    async fn stdout_is_capped() {
        let mut limits = limits();
        limits.max_output = 1000;
        let dir = std::env::temp_dir();
        let err = run(&sh("head -c 100000 /dev/zero"), &dir, &[], &limits, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ExecError::TooLarge { limit: 1000, .. }),
            "{err}"
        );
    }

    /// A grandchild that would outlive the command is killed with the group.
    #[tokio::test]
    async fn timeout_stops_the_whole_group() {
        let tmp = tempfile::tempdir().unwrap();
        let pids = tmp.path().join("pids");
        let script = format!("sleep 600 & echo $! > {}; wait", pids.display());
        let mut limits = limits();
        limits.timeout = Duration::from_millis(500);
        let err = run(&sh(&script), tmp.path(), &[], &limits, None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ExecError::Timeout {
                    why: "ARGOCD_EXEC_TIMEOUT",
                    ..
                }
            ),
            "{err}"
        );
        let pid = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SIGKILL is delivered asynchronously: wait (bounded) for the sleep to end.
        for _ in 0..100 {
            if !repo_testkit::alive(pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the background sleep {pid} survived the timeout");
    }

    /// Upstream's TestRunCommandContextTimeoutWithCleanup: SIGTERM first, so a command may
    /// clean up.
    #[tokio::test]
    async fn term_before_kill() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join("cleaned");
        let script = format!(
            "trap 'touch {}; exit 1' TERM; sleep 600 & wait",
            marker.display()
        );
        let mut limits = limits();
        limits.timeout = Duration::from_millis(500);
        let err = run(&sh(&script), tmp.path(), &[], &limits, None)
            .await
            .unwrap_err();
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
        assert!(marker.exists(), "the TERM trap did not run");
    }

    /// Both pipes closed, the command still running: its stderr was read before the timeout.
    #[tokio::test]
    async fn timeout_after_the_pipes_closed() {
        let mut limits = limits();
        limits.timeout = Duration::from_millis(300);
        let dir = std::env::temp_dir();
        let script = "echo last words >&2; exec >&- 2>&-; sleep 600";
        let err = run(&sh(script), &dir, &[], &limits, None)
            .await
            .unwrap_err();
        let ExecError::Timeout { stderr, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(stderr, "last words");
    }

    #[tokio::test]
    async fn the_request_deadline_can_come_first() {
        let dir = std::env::temp_dir();
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = run(&sh("sleep 600"), &dir, &[], &limits(), Some(deadline))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("the request's deadline"), "{err}");
    }
}
