//! Content-addressed archive store under a disk budget.

use std::path::PathBuf;

use crate::Error;

pub(crate) struct Store {
    dir: PathBuf,
    budget_bytes: u64,
}

impl Store {
    pub(crate) fn new(dir: PathBuf, budget_bytes: u64) -> Result<Self, Error> {
        Ok(Self { dir, budget_bytes })
    }
}
