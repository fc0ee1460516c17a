use crate::{Failures, Settings};
use std::time::{Duration, SystemTime};

/// Where a key's failure record leaves generation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pause {
    /// Too few failures: render.
    Off,
    /// Paused: answer the recorded failure.
    On,
    /// The pause has run out: forget the failures and render.
    Over,
}

pub(crate) fn pause(settings: &Settings, failures: &Failures, now: SystemTime) -> Pause {
    if settings.pause_after_failures == 0 || failures.count < settings.pause_after_failures {
        return Pause::Off;
    }
    // A clock that stepped back counts as no time elapsed.
    let elapsed = now.duration_since(failures.since).unwrap_or(Duration::ZERO);
    let timed_out = !settings.pause_for.is_zero() && elapsed >= settings.pause_for;
    let served_out =
        settings.pause_for_requests > 0 && failures.served >= settings.pause_for_requests;
    if timed_out || served_out {
        Pause::Over
    } else {
        Pause::On
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Failure;

    const MINUTE: Duration = Duration::from_secs(60);

    fn failures(count: u32, served: u32) -> Failures {
        Failures {
            last: Failure {
                code: 2,
                message: "boom".into(),
            },
            count,
            since: SystemTime::UNIX_EPOCH,
            served,
        }
    }

    fn at(elapsed: Duration) -> SystemTime {
        SystemTime::UNIX_EPOCH + elapsed
    }

    #[test]
    fn pauses_from_the_threshold() {
        let settings = Settings::default();
        assert_eq!(pause(&settings, &failures(2, 0), at(MINUTE)), Pause::Off);
        assert_eq!(pause(&settings, &failures(3, 0), at(MINUTE)), Pause::On);
        assert_eq!(pause(&settings, &failures(9, 0), at(MINUTE)), Pause::On);
    }

    #[test]
    fn disabled_never_pauses() {
        let settings = Settings {
            pause_after_failures: 0,
            ..Settings::default()
        };
        assert_eq!(pause(&settings, &failures(100, 0), at(MINUTE)), Pause::Off);
    }

    #[test]
    fn time_runs_from_the_first_failure() {
        let settings = Settings::default();
        let f = failures(3, 0);
        assert_eq!(pause(&settings, &f, at(60 * MINUTE - MINUTE)), Pause::On);
        assert_eq!(pause(&settings, &f, at(60 * MINUTE)), Pause::Over);
        // Stepping back does not end a pause.
        assert_eq!(
            pause(&settings, &f, SystemTime::UNIX_EPOCH - MINUTE),
            Pause::On
        );
    }

    #[test]
    fn requests_end_a_pause() {
        let settings = Settings {
            pause_for: Duration::ZERO,
            pause_for_requests: 2,
            ..Settings::default()
        };
        assert_eq!(
            pause(&settings, &failures(3, 1), at(999 * MINUTE)),
            Pause::On
        );
        assert_eq!(
            pause(&settings, &failures(3, 2), at(Duration::ZERO)),
            Pause::Over
        );
    }

    #[test]
    fn no_limits_pause_for_good() {
        let settings = Settings {
            pause_for: Duration::ZERO,
            pause_for_requests: 0,
            ..Settings::default()
        };
        assert_eq!(
            pause(&settings, &failures(3, u32::MAX), at(1_000_000 * MINUTE)),
            Pause::On
        );
    }
}
