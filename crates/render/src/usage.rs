//! What a render costs, for chargeback: its wall time, the CPU time of its own work in this
//! process, and the CPU time of the tool processes it ran (their reaped children included).
//!
//! The caller wraps a render in [`metered`] with a [`Meter`]; inside, the meter is the task's
//! (a task-local), so [`blocking`] work and tool runs charge it without being passed it. What
//! the meter gathered is handed to its account once, when the last holder lets it go: a tool
//! still being reaped after its render was abandoned is charged too. Accounting never fails a
//! render: what cannot be measured is left out.

use std::fs;
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{pidfd_open, waitid, Pid, PidfdFlags, WaitId, WaitIdOptions};
use rustix::time::{clock_gettime, ClockId};
use tokio::signal::unix::{signal, SignalKind};

/// What a render cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub wall: Duration,
    /// CPU time of this process's threads working on the render.
    pub server_cpu: Duration,
    /// User and system CPU time of the tool processes and the children they reaped.
    pub tools_cpu: Duration,
}

type Account = Box<dyn FnOnce(Spent) + Send + Sync>;

/// Gathers what one render spends and hands it to its account when dropped.
pub struct Meter {
    wall: AtomicU64,
    server: AtomicU64,
    tools: AtomicU64,
    account: Option<Account>,
}

impl Meter {
    /// A meter whose total goes to `account`, once.
    pub fn new(account: impl FnOnce(Spent) + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            wall: AtomicU64::new(0),
            server: AtomicU64::new(0),
            tools: AtomicU64::new(0),
            account: Some(Box::new(account)),
        })
    }

    fn add(counter: &AtomicU64, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        counter.fetch_add(nanos, Ordering::Relaxed);
    }

    fn spent(&self) -> Spent {
        let read = |c: &AtomicU64| Duration::from_nanos(c.load(Ordering::Relaxed));
        Spent {
            wall: read(&self.wall),
            server_cpu: read(&self.server),
            tools_cpu: read(&self.tools),
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(account) = self.account.take() {
            account(self.spent());
        }
    }
}

tokio::task_local! {
    static CURRENT: Arc<Meter>;
}

/// Runs `work` charging `meter`: its wall time, the thread CPU time of each of its polls, and
/// whatever [`blocking`] work and tools it runs. `work` is boxed: a render's future is large,
/// and a caller's should not grow by it.
pub fn metered<F: Future>(meter: Arc<Meter>, work: F) -> impl Future<Output = F::Output> {
    /// Charges the wall time however the render ends, dropped included.
    struct Wall(Arc<Meter>, Instant);
    impl Drop for Wall {
        fn drop(&mut self) {
            Meter::add(&self.0.wall, self.1.elapsed());
        }
    }
    let wall = Wall(meter.clone(), Instant::now());
    let mut work = Box::pin(work);
    // A poll runs on one thread, so that thread's CPU clock measures it exactly.
    let polled = std::future::poll_fn(move |cx| {
        let started = thread_cpu();
        let out = work.as_mut().poll(cx);
        Meter::add(&wall.0.server, thread_cpu().saturating_sub(started));
        out
    });
    CURRENT.scope(meter, polled)
}

/// `tokio::task::spawn_blocking`, charging the thread CPU time of `work` to the task's meter.
pub(crate) fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let meter = CURRENT.try_with(Arc::clone).ok();
    tokio::task::spawn_blocking(move || {
        let started = thread_cpu();
        let out = work();
        if let Some(meter) = meter {
            Meter::add(&meter.server, thread_cpu().saturating_sub(started));
        }
        out
    })
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// A tool process of a metered render, watched through a pidfd so that its exit is seen
/// without reaping it: its CPU time is read from the zombie, then the caller reaps it.
pub(crate) struct Tool {
    meter: Arc<Meter>,
    pid: Pid,
    pidfd: OwnedFd,
}

impl Tool {
    /// Watches `pid`, a child not reaped yet, when the task has a meter; `None` without one,
    /// or when the kernel offers no pidfd (Linux before 5.3).
    pub(crate) fn watch(pid: Pid) -> Option<Self> {
        let meter = CURRENT.try_with(Arc::clone).ok()?;
        let pidfd = pidfd_open(pid, PidfdFlags::empty()).ok()?;
        Some(Self { meter, pid, pidfd })
    }

    /// Waits until the tool has exited, still unreaped, and charges its CPU time. Must finish
    /// before the tool is reaped, which frees its process id. It checks at each SIGCHLD, so
    /// no thread waits (polling a pidfd safely is deprecated in tokio); cancelling it leaves
    /// nothing behind, and a failure leaves the tool uncharged.
    pub(crate) async fn exited(&self) {
        // Listening before the first check: an exit after it still wakes the loop.
        let Ok(mut sigchld) = signal(SignalKind::child()) else {
            return;
        };
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
        loop {
            match waitid(WaitId::PidFd(self.pidfd.as_fd()), options) {
                Ok(Some(_)) => break,
                Ok(None) | Err(Errno::INTR) => {}
                // P_PIDFD needs Linux 5.4.
                Err(_) => return,
            }
            if sigchld.recv().await.is_none() {
                return;
            }
        }
        let pid = self.pid;
        if let Ok(Some(cpu)) = tokio::task::spawn_blocking(move || cpu(pid)).await {
            Meter::add(&self.meter.tools, cpu);
        }
    }
}

/// User and system CPU time of process `pid` and of the children it reaped, from
/// `/proc/<pid>/stat`.
fn cpu(pid: Pid) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_pid())).ok()?;
    let ticks = ticks(&stat)?;
    let per_second = rustix::param::clock_ticks_per_second();
    (per_second > 0).then(|| {
        Duration::from_secs(ticks / per_second)
            + Duration::from_nanos(ticks % per_second * 1_000_000_000 / per_second)
    })
}

/// utime + stime + cutime + cstime (fields 14 to 17) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields count after its last `)`.
fn ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts with field 3 (state): fields 14..=17 are its 12th to 15th.
    let fields: Vec<&str> = rest.split_whitespace().skip(11).take(4).collect();
    if fields.len() != 4 {
        return None;
    }
    fields.iter().try_fold(0u64, |sum, f| {
        f.parse::<u64>().ok().map(|v| sum.saturating_add(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn stat_fields_count_after_the_command_name() {
        let line = "4242 (a) (b) c) Z 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 20 10 20 0 1 0";
        assert_eq!(ticks(line), Some(40));
        assert_eq!(ticks("4242 (short) Z 1 2"), None);
        assert_eq!(ticks("no parenthesis at all"), None);
    }

    #[test]
    fn a_process_that_is_gone_is_not_charged() {
        // The largest pid the kernel can hand out is 2^22: this one never exists.
        assert_eq!(cpu(Pid::from_raw(i32::MAX).unwrap()), None);
    }

    #[tokio::test]
    async fn blocking_work_and_polls_are_charged_once_when_the_meter_goes() {
        let (tx, rx) = mpsc::channel();
        let meter = Meter::new(move |spent| tx.send(spent).unwrap());
        let burn = || {
            let started = thread_cpu();
            while thread_cpu() - started < Duration::from_millis(30) {}
        };
        metered(meter, async {
            burn();
            blocking(burn).await.unwrap();
        })
        .await;
        let spent = rx.try_recv().expect("charged when the meter was dropped");
        assert!(spent.server_cpu >= Duration::from_millis(60), "{spent:?}");
        assert!(spent.wall >= Duration::from_millis(60), "{spent:?}");
        assert_eq!(spent.tools_cpu, Duration::ZERO);
        assert!(rx.try_recv().is_err(), "charged twice");
    }

    #[tokio::test]
    async fn work_outside_a_metered_render_charges_nothing() {
        assert!(Tool::watch(Pid::from_raw(1).unwrap()).is_none());
        assert_eq!(blocking(|| 7).await.unwrap(), 7);
    }
}
