//! Running a tool: fresh environment, own process group, wall-clock timeout that kills the
//! whole group, capped stdout and stderr, and scrubbed error text. A tool whose render is
//! abandoned is killed with its group, and keeps the render's parallelism slot until reaped.
//! In a metered render, a tool's exit is awaited before it is reaped, so that its CPU time
//! (its reaped children's included) is charged to the render ([`crate::usage`]).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use repo_cache::Slot;
use rustix::process::{kill_process_group, Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::sandbox::Reach;
use crate::usage::Tool;
use crate::{Error, Tools};

/// How much of a failing tool's stderr is kept for the error message.
const STDERR_CAP: usize = 16 << 10;

/// One tool invocation.
pub(crate) struct Run<'a> {
    pub tool: &'static str,
    pub program: &'a Path,
    pub args: Vec<String>,
    pub cwd: &'a Path,
    /// Variables on top of `PATH` and `HOME`.
    pub env: Vec<(String, String)>,
    /// A private, writable `HOME`.
    pub home: &'a Path,
    /// What the tool may use besides the system's programs and libraries, enforced by the
    /// [`Sandbox`](crate::Sandbox); `None` for the Jsonnet evaluator, which confines itself.
    pub reach: Option<Reach>,
}

/// Rewrites private paths in text shown to users (`commands`, error messages).
#[derive(Debug, Default, Clone)]
pub(crate) struct Scrub(Vec<(String, String)>);

impl Scrub {
    /// Replace `path` (and anything below it) with `with`.
    pub(crate) fn add(&mut self, path: &Path, with: &str) {
        self.0
            .push((path.to_string_lossy().into_owned(), with.to_string()));
        // Longest first, so a nested path is not half-replaced by its parent.
        self.0.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (path, with)| {
            t.replace(path.as_str(), with)
        })
    }
}

impl Run<'_> {
    /// The command line as upstream logs it (`helm template . --name-template x ...`): the
    /// tool's short name, arguments quoted when they hold whitespace, private paths scrubbed.
    pub(crate) fn display(&self, scrub: &Scrub) -> String {
        let args = self.args.iter().map(|a| {
            if a.is_empty() {
                "\"\"".to_string()
            } else if a.chars().any(char::is_whitespace) {
                format!("{a:?}")
            } else {
                a.clone()
            }
        });
        let line = std::iter::once(self.tool.to_string())
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ");
        scrub.apply(&line)
    }

    /// Runs to completion and returns stdout; an unsuccessful exit is [`Error::Tool`].
    pub(crate) async fn output(&self, tools: &Tools, scrub: &Scrub) -> Result<String, Error> {
        let done = self.finish(tools, &[]).await?;
        if !done.status.success() {
            let text = String::from_utf8_lossy(&done.stderr);
            let text = scrub.apply(text.trim());
            let message = if text.is_empty() {
                done.status.to_string()
            } else {
                text
            };
            return Err(Error::Tool {
                tool: self.tool,
                message,
            });
        }
        String::from_utf8(done.stdout)
            .map_err(|_| Error::parse(format!("{} output", self.tool), "not UTF-8"))
    }

    /// Runs to completion with `input` on stdin, whatever the exit status. On timeout, on a
    /// capped output, or when this future is dropped, the tool's process group is killed; the
    /// tool is reaped before this returns, or after the drop by a task that holds the render's
    /// parallelism slot until then.
    pub(crate) async fn finish(&self, tools: &Tools, input: &[u8]) -> Result<Finished, Error> {
        let mut command = Command::from(tools.sandbox.command(
            tools,
            self.reach.as_ref(),
            self.program,
            &self.args,
        ));
        command
            .current_dir(self.cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home)
            .envs(tools.proxy_env.iter().map(|(k, v)| (k, v)))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if input.is_empty() {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", self.tool), e))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let mut running = Running::new(child);
        let limit = tools.max_output_bytes;
        let work = async {
            tokio::try_join!(
                async {
                    if let Some(mut stdin) = stdin {
                        // A tool that exits without reading says why through its status.
                        let _ = stdin.write_all(input).await;
                    }
                    Ok(())
                },
                async {
                    capped(stdout, limit).await.ok_or(Error::TooLarge {
                        what: format!("{} output", self.tool),
                        limit: limit as u64,
                    })
                },
                async { Ok(truncated(stderr, STDERR_CAP).await) },
                async {
                    running.exited().await;
                    running
                        .child()
                        .wait()
                        .await
                        .map_err(|e| Error::io(format!("waiting for {}", self.tool), e))
                },
            )
        };
        match tokio::time::timeout(tools.timeout, work).await {
            Ok(Ok(((), stdout, stderr, status))) => {
                running.reaped();
                Ok(Finished {
                    status,
                    stdout,
                    stderr,
                })
            }
            Ok(Err(e)) => {
                running.stop().await;
                Err(e)
            }
            Err(_) => {
                running.stop().await;
                Err(Error::Timeout {
                    tool: self.tool,
                    after: tools.timeout,
                })
            }
        }
    }
}

/// How a tool ended.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    /// The first [`STDERR_CAP`] bytes.
    pub(crate) stderr: Vec<u8>,
}

/// A started tool: unless it was reaped after exiting by itself, its process group is killed
/// and the tool reaped, by [`Running::stop`] or, when the future running it is dropped, by a
/// task that keeps the render's parallelism slot until then. Its CPU time is charged on
/// every one of these paths.
struct Running {
    child: Option<Child>,
    group: Option<Pid>,
    slot: Option<Slot>,
    /// Until the tool's CPU time is charged to the render's meter, when it has one.
    usage: Option<Tool>,
}

impl Running {
    fn new(child: Child) -> Self {
        let group = child.id().and_then(|id| Pid::from_raw(id as i32));
        Self {
            group,
            usage: group.and_then(Tool::watch),
            child: Some(child),
            slot: Slot::current(),
        }
    }

    /// Waits for the tool's exit without reaping it, and charges its CPU time.
    async fn exited(&mut self) {
        if let Some(tool) = &self.usage {
            tool.exited().await;
        }
        self.usage = None;
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("not reaped yet")
    }

    /// The tool exited and was reaped. Whatever it left behind in its group is left alone
    /// rather than risk signalling a reused group id.
    fn reaped(&mut self) {
        self.group = None;
        self.child = None;
    }

    fn kill(&mut self) {
        if let Some(pid) = self.group.take() {
            // ESRCH just means everything already exited.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }

    async fn stop(&mut self) {
        self.kill();
        self.exited().await;
        if let Some(child) = &mut self.child {
            let _ = child.wait().await;
        }
        self.child = None;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
        let Some(mut child) = self.child.take() else {
            return;
        };
        let (slot, usage) = (self.slot.take(), self.usage.take());
        // Without a runtime (shutting down), `kill_on_drop` and tokio's orphan reaping remain.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Some(tool) = usage {
                    tool.exited().await;
                }
                let _ = child.wait().await;
                drop(slot);
            });
        }
    }
}

/// All of `r`, or `None` once it exceeds `limit` bytes (a read error ends it).
pub async fn capped(mut r: impl AsyncRead + Unpin, limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return Some(out),
            Ok(n) if out.len() + n > limit => return None,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The first `limit` bytes of `r`; the rest is drained so the tool never blocks on a full pipe.
async fn truncated(mut r: impl AsyncRead + Unpin, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8 << 10];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
    out
}

/// Refuses user-supplied values that a tool would parse as a flag ([`repo_source::Arg`]).
pub(crate) fn arg(value: &str, what: &'static str) -> Result<String, Error> {
    Ok(repo_source::Arg::new(what, value)?.into_string())
}

/// A fresh directory for one invocation's `HOME` and tool state, inside `parent`.
pub(crate) fn home(parent: &Path) -> Result<PathBuf, Error> {
    let dir = parent.join("home");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating a tool home", e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn tools(timeout: Duration, max: usize) -> Tools {
        Tools {
            helm: None,
            kustomize: None,
            kubectl: None,
            jsonnet: None,
            jsonnet_memory: 0,
            timeout,
            max_output_bytes: max,
            max_directory_bytes: 0,
            scratch: std::env::temp_dir(),
            untrusted: vec![],
            sandbox: crate::Sandbox::Unavailable("unit test".into()),
            proxy_env: Vec::new(),
        }
    }

    fn sh<'a>(script: &str, home: &'a Path) -> Run<'a> {
        Run {
            tool: "sh",
            program: Path::new("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            cwd: home,
            env: vec![("ARGOCD_APP_NAME".into(), "app".into())],
            home,
            reach: Some(Reach::default()),
        }
    }

    #[tokio::test]
    async fn fresh_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let out = sh("echo $HOME:$ARGOCD_APP_NAME:${CARGO:-unset}", tmp.path())
            .output(&tools(Duration::from_secs(10), 1 << 20), &Scrub::default())
            .await
            .unwrap();
        assert_eq!(out.trim(), format!("{}:app:unset", tmp.path().display()));
    }

    #[tokio::test]
    async fn the_pods_proxies_reach_the_tool() {
        let tmp = tempfile::tempdir().unwrap();
        let mut tools = tools(Duration::from_secs(10), 1 << 20);
        tools.proxy_env = vec![
            ("HTTPS_PROXY".into(), "http://proxy:3128".into()),
            ("NO_PROXY".into(), "git.internal".into()),
        ];
        let out = sh("echo $HTTPS_PROXY:$NO_PROXY", tmp.path())
            .output(&tools, &Scrub::default())
            .await
            .unwrap();
        assert_eq!(out.trim(), "http://proxy:3128:git.internal");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join("survived");
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let err = sh(&script, tmp.path())
            .output(
                &tools(Duration::from_millis(300), 1 << 20),
                &Scrub::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "a grandchild outlived the timeout");
    }

    #[tokio::test]
    async fn output_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let err = sh("head -c 100000 /dev/zero", tmp.path())
            .output(&tools(Duration::from_secs(10), 1000), &Scrub::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn failures_carry_scrubbed_capped_stderr() {
        let tmp = tempfile::tempdir().unwrap();
        let mut scrub = Scrub::default();
        scrub.add(tmp.path(), ".");
        let script = format!(
            "echo \"bad file {}/x.yaml\" >&2; head -c 100000 /dev/zero >&2; exit 3",
            tmp.path().display()
        );
        let err = sh(&script, tmp.path())
            .output(&tools(Duration::from_secs(10), 1 << 20), &scrub)
            .await
            .unwrap_err();
        let Error::Tool { message, .. } = err else {
            panic!("{err}")
        };
        assert!(message.starts_with("bad file ./x.yaml"), "{message:.80}");
        assert!(message.len() <= STDERR_CAP);
    }

    #[test]
    fn display_quotes_like_upstream() {
        let run = Run {
            tool: "helm",
            program: Path::new("/opt/bin/helm"),
            args: vec![
                "template".into(),
                "".into(),
                "a b".into(),
                "/tmp/w/x".into(),
            ],
            cwd: Path::new("/"),
            env: vec![],
            home: Path::new("/"),
            reach: None,
        };
        let mut scrub = Scrub::default();
        scrub.add(Path::new("/tmp/w"), ".");
        assert_eq!(run.display(&scrub), r#"helm template "" "a b" ./x"#);
    }

    #[tokio::test]
    async fn input_goes_to_stdin() {
        let tmp = tempfile::tempdir().unwrap();
        let done = sh("cat; exit 3", tmp.path())
            .finish(&tools(Duration::from_secs(10), 1 << 20), b"request")
            .await
            .unwrap();
        assert_eq!(
            (done.stdout.as_slice(), done.status.code()),
            (&b"request"[..], Some(3))
        );
    }

    /// A tool whose caller went away is killed, and its render's slot frees only once it has
    /// been reaped.
    #[tokio::test]
    async fn a_dropped_tool_is_reaped_before_its_slot_frees() {
        use repo_cache::{KeyBuilder, Manifests, Memory, Settings};
        use std::sync::Arc;

        let tmp = tempfile::tempdir().unwrap();
        let pid_file = tmp.path().join("pid");
        let script = format!(
            "echo $$ > {}.tmp; mv {0}.tmp {0}; exec sleep 600",
            pid_file.display()
        );
        let settings = Settings {
            parallelism: 1,
            ..Settings::default()
        };
        let cache = Arc::new(Manifests::new(Memory::new(1 << 20), settings));
        let key = |k: &str| KeyBuilder::new().part("k", k.as_bytes()).build();
        let abandoned = tokio::spawn({
            let (cache, home) = (cache.clone(), tmp.path().to_path_buf());
            async move {
                cache
                    .get_or_render(key("a"), false, || async {
                        let tools = tools(Duration::from_secs(600), 1 << 20);
                        let run = sh(&script, &home).output(&tools, &Scrub::default()).await;
                        Ok(run.unwrap().into_bytes())
                    })
                    .await
            }
        });
        // Waiting for the tool to start; the bound only keeps a broken build from hanging.
        let mut pid = None;
        for _ in 0..600 {
            pid = std::fs::read_to_string(&pid_file).ok();
            if pid.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = pid.expect("the tool never started");
        let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        let seen = cache
            .get_or_render(key("b"), false, || async {
                Ok(vec![u8::from(proc.exists())])
            })
            .await
            .unwrap();
        assert_eq!(
            seen.as_slice(),
            [0],
            "the next render started beside the tool"
        );
    }

    /// Runs `work` in a metered render; what the render spent once its meter is let go.
    async fn charged<F: std::future::Future>(work: F) -> (F::Output, crate::Spent) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let meter = crate::Meter::new(move |spent| {
            let _ = tx.send(spent);
        });
        let out = crate::metered(meter, work).await;
        (out, rx.await.expect("the meter was charged"))
    }

    /// Seconds of CPU in a `times` line (`0m0.120000s 0m0.004000s`): user + system.
    fn times(line: &str) -> Duration {
        line.split_whitespace()
            .map(|t| {
                let (m, s) = t.trim_end_matches('s').split_once('m').unwrap();
                Duration::from_secs_f64(
                    m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap(),
                )
            })
            .sum()
    }

    #[tokio::test]
    async fn a_tools_cpu_with_its_childrens_is_charged_to_its_render() {
        let tmp = tempfile::tempdir().unwrap();
        // The work is a child the tool reaps; the shell's own `times` is the reference.
        let script = "sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'; times";
        let tools = tools(Duration::from_secs(60), 1 << 20);
        let (out, spent) = charged(sh(script, tmp.path()).output(&tools, &Scrub::default())).await;
        let out = out.unwrap();
        let (own, children) = out.trim().split_once('\n').unwrap();
        let (own, children) = (times(own), times(children));
        assert!(children > Duration::ZERO, "{out}");
        // /proc and times(2) count the same clock ticks; the shell ran a little after `times`.
        assert!(spent.tools_cpu >= own + children, "{spent:?} < {out}");
        assert!(
            spent.tools_cpu <= own + children + Duration::from_millis(30),
            "{spent:?} > {out}"
        );
    }

    #[tokio::test]
    async fn a_tool_killed_at_the_timeout_is_charged() {
        let tmp = tempfile::tempdir().unwrap();
        let tools = tools(Duration::from_millis(500), 1 << 20);
        let run = sh("while :; do :; done", tmp.path());
        let (out, spent) = charged(run.output(&tools, &Scrub::default())).await;
        assert!(matches!(out, Err(Error::Timeout { .. })));
        assert!(spent.tools_cpu > Duration::ZERO, "{spent:?}");
    }

    /// An abandoned render's tool is charged once it has been reaped, not lost.
    #[tokio::test]
    async fn an_abandoned_tool_is_charged_after_it_is_reaped() {
        let tmp = tempfile::tempdir().unwrap();
        let started = tmp.path().join("started");
        let script = format!("touch {}; while :; do :; done", started.display());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let meter = crate::Meter::new(move |spent| {
            let _ = tx.send(spent);
        });
        let home = tmp.path().to_path_buf();
        let abandoned = tokio::spawn(crate::metered(meter, async move {
            let tools = tools(Duration::from_secs(600), 1 << 20);
            sh(&script, &home).output(&tools, &Scrub::default()).await
        }));
        // Waiting for the tool to start; the bound only keeps a broken build from hanging.
        for _ in 0..600 {
            if started.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(started.exists(), "the tool never started");
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        let spent = rx.await.expect("charged after reaping");
        assert!(spent.tools_cpu > Duration::ZERO, "{spent:?}");
    }

    /// Watching a metered tool holds no blocking thread: with a pool of one, the tool waits
    /// for blocking work of its render, which must get that thread.
    #[test]
    fn a_metered_tool_holds_no_blocking_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let flag = tmp.path().join("flag");
        let script = format!("while [ ! -e {} ]; do sleep 0.01; done", flag.display());
        // Before, the watch held the only thread: the tool waited until this timeout.
        let tools = tools(Duration::from_secs(10), 1 << 20);
        let (run, scrub) = (sh(&script, tmp.path()), Scrub::default());
        let (out, _) = runtime.block_on(charged(async {
            let tool = run.output(&tools, &scrub);
            let unblock = async {
                tokio::task::yield_now().await;
                crate::usage::blocking(move || std::fs::write(&flag, b"")).await
            };
            tokio::join!(tool, unblock)
        }));
        let (tool, unblock) = out;
        unblock.unwrap().unwrap();
        tool.unwrap();
    }

    #[test]
    fn flags_from_users_are_refused() {
        assert!(arg("--post-renderer=x", "name").is_err());
        assert_eq!(arg("web", "name").unwrap(), "web");
    }
}
