//! What a server process tree costs: CPU time and memory, read from `/proc`.

use std::collections::HashMap;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ; 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU seconds (user + system) used so far by `pid`, every descendant still running, and the
/// children they have reaped (tools the server ran).
pub(crate) fn tree_cpu_s(pid: u32) -> f64 {
    let stats = all_stats();
    let mut total = 0u64;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        if let Some(s) = stats.get(&p) {
            total += s.ticks;
        }
        stack.extend(stats.values().filter(|s| s.parent == p).map(|s| s.pid));
    }
    total as f64 / TICKS_PER_S
}

/// CPU seconds of `pid`'s live threads to the nanosecond (`/proc/<pid>/task/*/schedstat`),
/// where [`tree_cpu_s`] counts 10 ms ticks: for short windows of a process that starts no
/// children and keeps its threads (a thread that exits takes its time with it).
pub(crate) fn threads_cpu_s(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

struct Stat {
    pid: u32,
    parent: u32,
    ticks: u64,
}

fn all_stats() -> HashMap<u32, Stat> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|text| parse_stat(pid, &text))
        {
            out.insert(pid, stat);
        }
    }
    out
}

/// Fields after the parenthesised command name: state(3) ppid(4) … utime(14) stime(15)
/// cutime(16) cstime(17).
fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        parent: fields.get(1)?.parse().ok()?,
        ticks: fields
            .get(11..=14)?
            .iter()
            .map(|f| f.parse::<u64>().ok())
            .sum::<Option<u64>>()?,
    })
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in MB (10^6 bytes).
pub(crate) fn status_mb(pid: u32, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| kb * 1024.0 / 1e6)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_even_with_spaces_in_the_name() {
        let line = "42 (my (odd) name) S 7 42 42 0 -1 4194560 100 0 0 0 250 31 4 5 20 0 1 0";
        let s = parse_stat(42, line).unwrap();
        assert_eq!((s.parent, s.ticks), (7, 290));
        assert!(parse_stat(42, "42 (short) S 7 42").is_none());
    }

    #[test]
    fn own_process_is_measured() {
        let me = std::process::id();
        let start = tree_cpu_s(me);
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(tree_cpu_s(me) > start);
        let threads = threads_cpu_s(me);
        assert!(threads > 0.0 && threads_cpu_s(me) >= threads);
        assert!(status_mb(me, "VmRSS") > 0.5);
    }
}
