//! Refused handshakes are logged per peer and reason: the first few in each period one by one,
//! then one summary line at the end of the period with the number left out. One attacker
//! cannot flood the log; the refusal counters stay exact (they are counted elsewhere).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::slots::Net;

/// Lines logged one by one per peer and reason in a period.
pub(super) const LINES: u32 = 5;
pub(super) const PERIOD: Duration = Duration::from_secs(60);
/// How often ended periods are summarized.
pub(super) const TICK: Duration = Duration::from_secs(5);
/// Peers and reasons followed at once; refusals beyond that are summarized together.
const KEYS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    /// `None` for the shared entry of peers beyond [`KEYS`].
    net: Option<Net>,
    reason: &'static str,
}

struct Count {
    since: Instant,
    logged: u32,
    suppressed: u64,
    describe: &'static str,
}

/// Refusals left out of the log during one period.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Summary {
    pub net: Option<Net>,
    pub reason: &'static str,
    pub describe: &'static str,
    pub suppressed: u64,
}

#[derive(Default)]
pub(super) struct Throttle {
    counts: Mutex<HashMap<Key, Count>>,
}

impl Throttle {
    /// Whether this refusal gets its own log line (otherwise it is counted for the summary).
    pub(super) fn admit(
        &self,
        net: Net,
        reason: &'static str,
        describe: &'static str,
        now: Instant,
    ) -> bool {
        let mut counts = self.counts.lock();
        let mut key = Key {
            net: Some(net),
            reason,
        };
        if counts.len() >= KEYS && !counts.contains_key(&key) {
            key.net = None;
        }
        let count = counts.entry(key).or_insert(Count {
            since: now,
            logged: 0,
            suppressed: 0,
            describe,
        });
        if count.logged < LINES && key.net.is_some() {
            count.logged += 1;
            true
        } else {
            count.suppressed += 1;
            false
        }
    }

    /// The summaries of periods over by `now`; their peers start afresh.
    pub(super) fn drain(&self, now: Instant) -> Vec<Summary> {
        let mut summaries = Vec::new();
        self.counts.lock().retain(|key, count| {
            if now.duration_since(count.since) < PERIOD {
                return true;
            }
            if count.suppressed > 0 {
                summaries.push(Summary {
                    net: key.net,
                    reason: key.reason,
                    describe: count.describe,
                    suppressed: count.suppressed,
                });
            }
            false
        });
        summaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Net {
        Net::of(text.parse().unwrap())
    }

    #[test]
    fn a_flood_logs_a_few_lines_then_one_summary_per_period() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let attacker = net("10.0.0.9");
        let logged = (0..1000)
            .filter(|_| throttle.admit(attacker, "protocol_error", "d", start))
            .count();
        assert_eq!(logged, LINES as usize);
        // Another peer, or another reason, has lines of its own.
        assert!(throttle.admit(net("10.0.0.8"), "protocol_error", "d", start));
        assert!(throttle.admit(attacker, "timeout", "d", start));
        assert!(throttle.drain(start + PERIOD / 2).is_empty());
        let summaries = throttle.drain(start + PERIOD);
        assert_eq!(
            summaries,
            vec![Summary {
                net: Some(attacker),
                reason: "protocol_error",
                describe: "d",
                suppressed: 1000 - u64::from(LINES),
            }]
        );
        // The next period starts with lines again, and nothing is summarized twice.
        assert!(throttle.drain(start + PERIOD * 3).is_empty());
        assert!(throttle.admit(attacker, "protocol_error", "d", start + PERIOD * 3));
    }

    #[test]
    fn peers_beyond_the_tracked_number_share_one_summary() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for n in 0..KEYS as u32 + 10 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n);
            throttle.admit(Net::of(ip.into()), "timeout", "d", now);
        }
        let summaries = throttle.drain(now + PERIOD);
        assert_eq!(summaries.len(), 1);
        assert_eq!((summaries[0].net, summaries[0].suppressed), (None, 10));
    }
}
