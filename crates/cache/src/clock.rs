use std::time::SystemTime;

/// Tells the time for failure pausing.
///
/// Wall-clock time rather than `Instant`, because a failure record may be read by another
/// process through a shared store, as upstream's Unix timestamps are.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct System;

impl Clock for System {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
