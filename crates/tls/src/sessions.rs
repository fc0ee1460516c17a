//! Server-side TLS session cache where a ticket unused for [`LIFETIME`] is forgotten (rustls'
//! own cache keeps sessions until evicted). A resumed session skips the chain check and each
//! resumption issues a new ticket for the same certificate, so the acceptor re-checks the
//! certificate's dates on resumed connections. Each configuration has its own cache, so a
//! reload of the certificates, client CA or CRLs ends every earlier session.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::server::StoresServerSessions;

/// How long an unused session ticket may be resumed.
pub(crate) const LIFETIME: Duration = Duration::from_secs(300);
/// Sessions kept at most (oldest dropped first).
pub(crate) const CAPACITY: usize = 512;

#[derive(Debug)]
pub(crate) struct Sessions {
    lifetime: Duration,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Vec<u8>, (Instant, Vec<u8>)>,
    /// Insertion order, for eviction; entries already taken are skipped.
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl Sessions {
    pub(crate) fn new(lifetime: Duration, capacity: usize) -> Self {
        Self {
            lifetime,
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn fresh(&self, stored: Instant) -> bool {
        stored.elapsed() < self.lifetime
    }
}

impl StoresServerSessions for Sessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock();
        while let Some((stored, oldest)) = state.order.front().cloned() {
            if state.order.len() < self.capacity && self.fresh(stored) {
                break;
            }
            state.order.pop_front();
            if state
                .entries
                .get(&oldest)
                .is_some_and(|(t, _)| *t == stored)
            {
                state.entries.remove(&oldest);
            }
        }
        state.order.push_back((now, key.clone()));
        state.entries.insert(key, (now, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let state = self.state.lock();
        let (stored, value) = state.entries.get(key)?;
        self.fresh(*stored).then(|| value.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (stored, value) = self.state.lock().entries.remove(key)?;
        self.fresh(stored).then_some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_sessions_are_not_resumed() {
        let sessions = Sessions::new(Duration::from_millis(30), 8);
        sessions.put(b"a".to_vec(), b"1".to_vec());
        assert_eq!(sessions.get(b"a"), Some(b"1".to_vec()));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(sessions.get(b"a"), None);
        assert_eq!(sessions.take(b"a"), None);
    }

    #[test]
    fn take_is_single_use_and_capacity_evicts_the_oldest() {
        let sessions = Sessions::new(Duration::from_secs(60), 2);
        sessions.put(b"a".to_vec(), b"1".to_vec());
        sessions.put(b"b".to_vec(), b"2".to_vec());
        sessions.put(b"c".to_vec(), b"3".to_vec());
        assert_eq!(sessions.get(b"a"), None, "oldest evicted");
        assert_eq!(sessions.take(b"b"), Some(b"2".to_vec()));
        assert_eq!(sessions.take(b"b"), None, "single use");
        assert_eq!(sessions.get(b"c"), Some(b"3".to_vec()));
        assert!(sessions.state.lock().entries.len() <= 2);
    }
}
