//! How big and how long: the full run, or `--quick` (about a minute on 2 cores).

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Load before a measured window, discarded.
    pub warmup: Duration,
    /// One measured window.
    pub window: Duration,
    /// Alternating windows per system pair in `rpc-persistent`, and their length: many short
    /// rounds keep slow drift out of the comparison.
    pub rounds: usize,
    pub round_window: Duration,
    /// Time per crypto operation when measuring the floor.
    pub floor_op: Duration,
    /// Repetitions of each cold render.
    pub cold_runs: usize,
    /// Applications of `monorepo-burst`, per topology (one replica, three and Redis).
    pub monorepo_apps: usize,
    /// Applications of `replicas`.
    pub replica_apps: usize,
    /// Keys a `redis-hit` round reads from Redis, and rounds (each with a new replica).
    pub redis_hit_keys: usize,
    pub redis_hit_rounds: usize,
    /// Measured renders of `cold-plugin`, each kind.
    pub plugin_runs: usize,
    pub cached_apps: usize,
    pub rotations: usize,
    pub concurrencies: &'static [usize],
}

impl Plan {
    pub(crate) fn full() -> Self {
        Self {
            warmup: Duration::from_millis(700),
            window: Duration::from_secs(2),
            rounds: 6,
            round_window: Duration::from_secs(1),
            floor_op: Duration::from_millis(300),
            cold_runs: 7,
            monorepo_apps: 5000,
            replica_apps: 1000,
            redis_hit_keys: 1000,
            redis_hit_rounds: 3,
            plugin_runs: 21,
            cached_apps: 1000,
            rotations: 20,
            concurrencies: &[1, 16, 64],
        }
    }

    /// Says on stderr when `what` is measured on fewer `items` than the full run's.
    pub(crate) fn note_size(benchmark: &str, what: &str, items: usize, full: usize) {
        if items < full {
            eprintln!("  {benchmark}: {items} {what} (--quick; the full run uses {full})");
        }
    }

    pub(crate) fn quick() -> Self {
        Self {
            warmup: Duration::from_millis(100),
            window: Duration::from_millis(400),
            rounds: 1,
            round_window: Duration::from_millis(400),
            floor_op: Duration::from_millis(40),
            cold_runs: 2,
            monorepo_apps: 100,
            replica_apps: 90,
            redis_hit_keys: 200,
            redis_hit_rounds: 1,
            plugin_runs: 11,
            cached_apps: 100,
            rotations: 4,
            concurrencies: &[1, 16],
        }
    }
}
