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
use crate::system::Layout;

/// What every benchmark gets.
pub struct Ctx {
    pub layout: Layout,
    pub plan: Plan,
    pub costs: Costs,
    pub results: Results,
    /// Systems that could not be started, with why.
    pub skipped: Vec<String>,
}

impl Ctx {
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
