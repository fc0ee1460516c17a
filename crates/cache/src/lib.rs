//! The repo-server's manifest cache, generic over the cached value (opaque bytes) so it does not
//! depend on the gRPC types.
//!
//! - [`Key`]/[`KeyBuilder`]: a sha256 over named request parts, in the caller's order.
//! - [`Store`]: where entries live; [`Memory`] is an in-process LRU bounded by bytes. A shared
//!   backend (Redis) can implement the same trait.
//! - [`Manifests`]: single-flight per key, the `--parallelismlimit` semaphore and upstream's
//!   failure pausing, in front of a store.
//! - [`Slot`]: a render's parallelism slot, held by anything the render leaves running (a child
//!   process being reaped) until it has stopped.
//!
//! # Upstream semantics (argo-cd `reposerver/repository/repository.go`)
//!
//! | Setting | Upstream knob | Default |
//! |---|---|---|
//! | [`Settings::parallelism`] | `--parallelismlimit`, env `ARGOCD_REPO_SERVER_PARALLELISM_LIMIT`, `reposerver.parallelism.limit` | 0 (unlimited) |
//! | [`Settings::pause_after_failures`] | env `ARGOCD_PAUSE_GEN_AFTER_FAILED_ATTEMPTS` | 3 (0 disables failure caching) |
//! | [`Settings::pause_for`] | env `ARGOCD_PAUSE_GEN_MINUTES` (whole minutes) | 60 min (0: no time limit) |
//! | [`Settings::pause_for_requests`] | env `ARGOCD_PAUSE_GEN_REQUESTS` | 0 (no request limit) |
//!
//! - A failed render bumps the key's consecutive-failure count; the first failure's time is
//!   kept. A success replaces the record. Failures are not recorded when
//!   `pause_after_failures` is 0.
//! - Once the count reaches `pause_after_failures`, requests get the recorded failure, its
//!   message prefixed with `Manifest generation error (cached): `, without rendering.
//! - The pause ends when `pause_for` has elapsed since the *first* failure, or once
//!   `pause_for_requests` cached failures have been served. The record is then dropped, so
//!   pausing again takes `pause_after_failures` fresh failures. With both limits 0 the pause
//!   lasts until a hard refresh succeeds or the entry leaves the store.
//! - A hard refresh (`ManifestRequest.noCache`) ignores cached manifests and cached failures,
//!   but its outcome is recorded like any other.
//! - Upstream stores these entries in Redis for `--repo-cache-expiration` (24h).
//!
//! Departures: upstream has no single-flight, so identical concurrent requests each render
//! (the cold-cache herd); here they share one render. A cached failure keeps its gRPC code,
//! where upstream answers `Unknown`.
#![forbid(unsafe_code)]

mod clock;
mod entry;
mod failure;
mod flight;
mod key;
mod lru;
mod manifests;
mod memory;
mod pause;
mod settings;
mod slot;
mod store;

pub use clock::{Clock, System};
pub use entry::{Entry, Failures};
pub use failure::Failure;
pub use key::{Key, KeyBuilder};
pub use manifests::Manifests;
pub use memory::{Memory, Metrics};
pub use settings::Settings;
pub use slot::Slot;
pub use store::{Pending, Store};
