//! What callers learn about each command (upstream's argocd_redis_request_total and
//! argocd_redis_request_duration), and warnings that stay readable when Redis is down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Told about every command, answered or not.
pub trait Observer: Send + Sync {
    /// `command` is the Redis command's lower-case name as upstream labels it (`get`, `set`,
    /// `rename`, `del`, `eval`); `failed` is true when Redis did not answer or refused it.
    fn request(&self, command: &'static str, took: Duration, failed: bool);
}

/// No metrics.
impl Observer for () {
    fn request(&self, _: &'static str, _: Duration, _: bool) {}
}

/// At most one warning per `every`, counting the ones it held back.
pub(crate) struct Limiter {
    every: Duration,
    last: Mutex<Option<Instant>>,
    held: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
            held: AtomicU64::new(0),
        }
    }

    /// Whether to log now, with the number of warnings held back since the last one.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock();
        if last.is_some_and(|at| now.duration_since(at) < self.every) {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_holds_back_and_counts() {
        let limiter = Limiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        *limiter.last.lock() = Some(Instant::now() - Duration::from_secs(3601));
        assert_eq!(limiter.allow(), Some(2));
    }
}
