//! One `Cache` per directory: two would sweep each other's scratch files and fetch locks.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

/// The open, exclusively locked file; the lock lasts as long as it stays open.
pub(crate) fn acquire(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    flock(&file, FlockOperation::NonBlockingLockExclusive)?;
    Ok(file)
}
