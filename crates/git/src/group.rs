//! Killing a git command together with everything it started (ssh, remote helpers,
//! index-pack): each command runs in its own process group, whose id is the leader's pid.

use rustix::process::{kill_process_group, Pid, Signal};

/// Kills the group when dropped, unless released.
pub(crate) struct Group(Option<Pid>);

impl Group {
    pub(crate) fn new(leader: Option<u32>) -> Self {
        Self(
            leader
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        )
    }

    pub(crate) fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // ESRCH only means every member is already gone.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }

    /// Call once the leader has been reaped: its id may then be reused by another process.
    pub(crate) fn release(&mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}
