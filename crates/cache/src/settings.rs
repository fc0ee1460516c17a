use std::time::Duration;

/// Render concurrency and failure pausing; see the crate docs for the upstream knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Renders running at once; 0 means unlimited.
    pub parallelism: usize,
    /// Consecutive failures after which generation pauses; 0 disables failure caching.
    pub pause_after_failures: u32,
    /// How long, from the first failure, a pause lasts; zero means no time limit.
    pub pause_for: Duration,
    /// How many cached failures a pause answers; 0 means no request limit.
    pub pause_for_requests: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            parallelism: 0,
            pause_after_failures: 3,
            pause_for: Duration::from_secs(60 * 60),
            pause_for_requests: 0,
        }
    }
}
