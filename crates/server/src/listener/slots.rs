//! Handshakes in flight (half-open connections), bounded in total and per peer.
//!
//! A peer over its bound is refused at once. When the table is full, a newcomer evicts the
//! oldest entry: a real handshake takes milliseconds, so the oldest entries are connections
//! that stall on purpose, and a good client or the liveness self-dial still gets through while
//! an attacker keeps every slot busy. The accept loop itself never waits.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Handshakes in flight at once.
pub(super) const TOTAL: usize = 1024;
/// Handshakes in flight from one peer: far more than a component's pod opens at once (each
/// handshake takes about a millisecond), far fewer than the table.
pub(super) const PER_PEER: usize = 32;

/// The unit a peer is counted in: an IPv4 address, or an IPv6 /64 (one host's usual share,
/// so that an attacker cannot take a fresh address per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Net(IpAddr);

impl Net {
    pub(super) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => Net(IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & !u128::from(u64::MAX),
            ))),
            v4 => Net(v4),
        }
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => ip.fmt(f),
            IpAddr::V6(ip) => write!(f, "{ip}/64"),
        }
    }
}

/// Why a connection was dropped before its handshake finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shed {
    PeerLimit,
    Evicted,
}

impl Shed {
    pub(crate) const ALL: [Shed; 2] = [Shed::PeerLimit, Shed::Evicted];

    /// The metric label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Shed::PeerLimit => "peer_limit",
            Shed::Evicted => "evicted",
        }
    }

    /// A sentence for the log line.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Shed::PeerLimit => "too many handshakes in flight from this peer",
            Shed::Evicted => "all handshake slots were busy and this was the oldest",
        }
    }
}

struct Entry {
    net: Net,
    /// Dropped to evict: the handshake task sees its receiver close.
    _evict: oneshot::Sender<()>,
}

#[derive(Default)]
struct Table {
    next: u64,
    open: BTreeMap<u64, Entry>,
    per_net: HashMap<Net, usize>,
}

impl Table {
    fn remove(&mut self, id: u64) {
        let Some(entry) = self.open.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_net.get_mut(&entry.net) {
            *n -= 1;
            if *n == 0 {
                self.per_net.remove(&entry.net);
            }
        }
    }
}

pub(super) struct Slots {
    total: usize,
    per_peer: usize,
    table: Mutex<Table>,
}

/// A place in the table, given back when dropped.
pub(super) struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.table.lock().remove(self.id);
    }
}

impl Slots {
    pub(super) fn new(total: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Self {
            total,
            per_peer,
            table: Mutex::default(),
        })
    }

    /// A slot for a handshake from `ip`, and a receiver that closes if the slot is taken
    /// away; `None` when the peer already has its share.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<(Slot, oneshot::Receiver<()>)> {
        let net = Net::of(ip);
        let mut table = self.table.lock();
        if table.per_net.get(&net).copied().unwrap_or(0) >= self.per_peer {
            return None;
        }
        if table.open.len() >= self.total {
            if let Some((&oldest, _)) = table.open.first_key_value() {
                table.remove(oldest);
            }
        }
        let (evict, evicted) = oneshot::channel();
        let id = table.next;
        table.next += 1;
        table.open.insert(id, Entry { net, _evict: evict });
        *table.per_net.entry(net).or_default() += 1;
        Some((
            Slot {
                slots: self.clone(),
                id,
            },
            evicted,
        ))
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let table = self.table.lock();
        (table.open.len(), table.per_net.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_peer_over_its_share_is_refused_until_one_finishes() {
        let slots = Slots::new(10, 2);
        let a = slots.admit(ip("10.0.0.1")).unwrap();
        let _b = slots.admit(ip("10.0.0.1")).unwrap();
        assert!(slots.admit(ip("10.0.0.1")).is_none());
        // The same host over IPv4-mapped IPv6 is the same peer.
        assert!(slots.admit(ip("::ffff:10.0.0.1")).is_none());
        assert!(slots.admit(ip("10.0.0.2")).is_some());
        drop(a);
        assert!(slots.admit(ip("10.0.0.1")).is_some());
    }

    #[test]
    fn ipv6_peers_are_counted_per_64() {
        let slots = Slots::new(10, 1);
        let _a = slots.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(slots.admit(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(slots.admit(ip("2001:db8:1:3::1")).is_some());
        assert_eq!(
            Net::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_full_table_evicts_its_oldest_entry_for_a_newcomer() {
        let slots = Slots::new(3, 3);
        let (_first, mut first_evicted) = slots.admit(ip("10.0.0.1")).unwrap();
        let (_second, mut second_evicted) = slots.admit(ip("10.0.0.1")).unwrap();
        let _third = slots.admit(ip("10.0.0.2")).unwrap();
        let (_good, mut good_evicted) = slots.admit(ip("127.0.0.1")).unwrap();
        assert_eq!(
            first_evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        assert_eq!(
            second_evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        assert_eq!(
            good_evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        // An evicted slot dropped later does not free someone else's place.
        drop(_first);
        assert_eq!(slots.len(), (3, 3));
    }

    #[test]
    fn finished_handshakes_leave_nothing_behind() {
        let slots = Slots::new(4, 4);
        for n in 0..100 {
            let _slot = slots.admit(ip(&format!("10.0.{}.{}", n / 200, n % 200)));
        }
        assert_eq!(slots.len(), (0, 0));
    }
}
