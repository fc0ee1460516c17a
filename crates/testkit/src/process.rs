//! Whether a process a test started (or a child of it) still runs.

/// Whether `pid` runs. A zombie (exited, not yet reaped) counts as gone: a container's init
/// may never reap an orphan.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which may itself hold `)`.
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        !state.starts_with('Z')
    })
}
