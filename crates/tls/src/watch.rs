//! Tells when certificate files may have changed: a non-recursive watch on each directory
//! (debounced) plus a periodic tick that covers missed events and filesystems without inotify.

use std::path::PathBuf;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Events within this window are handled as one.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// A stream of "look again" signals. Dropping it stops the watch.
pub struct Changes {
    rx: mpsc::Receiver<()>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Changes {
    /// Watches `dirs` (those that exist) and ticks every `poll`.
    pub fn new(dirs: &[PathBuf], poll: Duration) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let events = tx.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading the files ourselves produces access events; only changes matter.
            if event.is_ok_and(|e| !matches!(e.kind, EventKind::Access(_))) {
                let _ = events.try_send(());
            }
        });
        let watcher = match watcher {
            Ok(mut watcher) => {
                for dir in dirs {
                    if let Err(err) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                        tracing::debug!(dir = %dir.display(), error = %err, "not watching; polling only");
                    }
                }
                Some(watcher)
            }
            Err(err) => {
                tracing::warn!(error = %err, "file watching unavailable; polling for certificate changes");
                None
            }
        };
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(poll);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if tx.send(()).await.is_err() {
                    return;
                }
            }
        });
        Self {
            rx,
            _watcher: watcher,
        }
    }

    /// Waits for the next change signal, debounced. `None` when the watch has stopped.
    pub async fn next(&mut self) -> Option<()> {
        self.rx.recv().await?;
        tokio::time::sleep(DEBOUNCE).await;
        while self.rx.try_recv().is_ok() {}
        Some(())
    }
}
