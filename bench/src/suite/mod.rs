//! The benchmarks, one file each.

pub mod cold;
pub mod handshake;
pub mod memory;
pub mod monorepo;
pub mod persistent;
pub mod pool;
pub mod rotation;

use crate::floor::Costs;
use crate::plan::Plan;
use crate::record::Results;
use crate::system::{Layout, SERVERS};

/// What every benchmark gets.
pub struct Ctx {
    pub layout: Layout,
    pub plan: Plan,
    pub costs: Costs,
    pub results: Results,
    /// Systems that could not be started, with why.
    pub skipped: Vec<String>,
    /// `--systems`: when not empty, only these are started.
    pub systems: Vec<String>,
}

impl Ctx {
    /// Whether `--systems` lets `name` run.
    pub fn wants(&self, name: &str) -> bool {
        self.systems.is_empty() || self.systems.iter().any(|s| s == name)
    }

    /// The mTLS servers `--systems` lets run.
    pub fn servers(&self) -> Vec<&'static str> {
        SERVERS.into_iter().filter(|n| self.wants(n)).collect()
    }

    /// Starts a peer, or notes why it could not be and goes on without it.
    pub fn peer<T>(&mut self, name: &str, started: anyhow::Result<T>) -> Option<T> {
        match started {
            Ok(system) => Some(system),
            Err(e) => {
                let why = format!("{name}: {e:#}");
                eprintln!("  skipped {why}");
                self.skipped.push(why);
                None
            }
        }
    }
}
