//! Startup of a cache directory: exclusive use, a usable git, and recovery from whatever a
//! previous run left when it was killed.

use std::fs::File;
use std::io;

use crate::layout::Layout;
use crate::store::Store;
use crate::{askpass, lock, probe, sweep, Error, Settings};

pub(crate) struct Opened {
    pub(crate) layout: Layout,
    pub(crate) store: Store,
    pub(crate) lock: File,
}

pub(crate) fn open(settings: &Settings) -> Result<Opened, Error> {
    let setup = |detail: String| Error::Setup {
        path: settings.dir.clone(),
        detail,
    };
    probe::git().map_err(setup)?;
    let layout = Layout::new(&settings.dir);
    layout.create().map_err(|e| setup(e.to_string()))?;
    let lock = lock::acquire(&layout.lock).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => setup("in use by another cache".into()),
        _ => setup(format!("cannot lock: {e}")),
    })?;
    sweep::scratch(&layout.scratch).map_err(|e| setup(format!("cannot clean scratch: {e}")))?;
    for entry in std::fs::read_dir(&layout.repos).map_err(|e| setup(e.to_string()))? {
        let path = entry.map_err(|e| setup(e.to_string()))?.path();
        if !path.is_dir() {
            continue;
        }
        match sweep::mirror(&path) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                mirror = %path.display(),
                removed = n,
                "cleaned up after an interrupted fetch"
            ),
            Err(e) => return Err(setup(format!("cannot clean {}: {e}", path.display()))),
        }
    }
    askpass::install(&layout.askpass).map_err(|e| setup(format!("askpass helper: {e}")))?;
    let store = Store::new(layout.scratch.clone(), settings.budget_bytes);
    store
        .load(&layout.snapshots)
        .map_err(|e| setup(format!("cannot index snapshots: {e}")))?;
    Ok(Opened {
        layout,
        store,
        lock,
    })
}
