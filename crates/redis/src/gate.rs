//! Fails calls at once right after the connection drops. fred counts itself connected until
//! its first reconnection attempt, and commands sent in between wait in its queue for the
//! operation timeout; the gate closes as soon as a drop is seen (fred's error event, or a
//! command failing on the dead connection) and opens at the next reconnection. It never stays
//! closed longer than [`GRACE`] on its own: by then fred's state says disconnected and fred
//! fails calls fast itself, so a missed reconnection event cannot shut Redis out.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::Cause;

const GRACE: Duration = Duration::from_secs(1);

pub(crate) struct Gate(Mutex<State>);

struct State {
    /// Reconnections so far: a failure seen by a command that started before the latest one
    /// is about an older connection.
    generation: u64,
    /// The last connection failure (`None` once connected) and when the connection was lost.
    down: Option<(Cause, Instant)>,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(State {
            generation: 0,
            down: Some((Cause::NotConnected, Instant::now())),
        }))
    }

    pub(crate) fn generation(&self) -> u64 {
        self.0.lock().generation
    }

    /// Why calls must fail now without being sent, if they must.
    pub(crate) fn closed(&self) -> Option<Cause> {
        let state = self.0.lock();
        let (cause, since) = state.down.as_ref()?;
        (since.elapsed() < GRACE).then(|| cause.clone())
    }

    /// The last connection failure, if not connected since.
    pub(crate) fn cause(&self) -> Option<Cause> {
        self.0.lock().down.as_ref().map(|(cause, _)| cause.clone())
    }

    /// The connection was lost (or a reconnection failed). `generation` is when the command
    /// that saw it started; `None` for fred's own error events, which are in order.
    pub(crate) fn lost(&self, cause: Cause, generation: Option<u64>) {
        let mut state = self.0.lock();
        if generation.is_some_and(|g| g != state.generation) {
            return;
        }
        let since = match &state.down {
            Some((_, since)) => *since,
            None => Instant::now(),
        };
        state.down = Some((cause, since));
    }

    /// Connected (again); returns the failure it ends, if any.
    pub(crate) fn connected(&self) -> Option<Cause> {
        let mut state = self.0.lock();
        state.generation += 1;
        state.down.take().map(|(cause, _)| cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_on_loss_and_opens_on_reconnection() {
        let gate = Gate::new();
        assert_eq!(gate.closed(), Some(Cause::NotConnected));
        assert_eq!(gate.connected(), Some(Cause::NotConnected));
        assert_eq!(gate.closed(), None);
        let before = gate.generation();
        gate.lost(Cause::Io("reset".into()), Some(before));
        assert_eq!(gate.closed(), Some(Cause::Io("reset".into())));
        gate.connected();
        // A late report about the previous connection does not close the new one.
        gate.lost(Cause::Io("reset".into()), Some(before));
        assert_eq!(gate.closed(), None);
        assert_eq!(gate.cause(), None);
    }

    #[test]
    fn never_stays_closed_past_the_grace_period() {
        let gate = Gate::new();
        gate.connected();
        gate.lost(Cause::Io("reset".into()), None);
        gate.0.lock().down.as_mut().unwrap().1 -= GRACE;
        assert_eq!(gate.closed(), None);
        // Still the cause fred's own fail-fast errors are reported with.
        assert_eq!(gate.cause(), Some(Cause::Io("reset".into())));
    }
}
