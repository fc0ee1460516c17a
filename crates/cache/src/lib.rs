//! The repo-server's manifest cache, generic over the cached value (opaque bytes) so it does not
//! depend on the gRPC types.
//!
//! - [`Key`]/[`KeyBuilder`]: a sha256 over named request parts, in the caller's order. A key
//!   may carry a [`Name`] for shared stores (upstream's `mfst|…` string and a check digest
//!   kept in the value); equality and hashing use the digest alone.
//! - [`Store`]: where entries live; [`Memory`] is an in-process LRU bounded by bytes. A shared
//!   backend (Redis) implements the same trait, overriding [`Store::rename`] with its own move.
//! - [`Tiered`]: memory in front of a shared store; a shared hit fills the front, writes go to
//!   both.
//! - [`Manifests`]: single-flight per key, the `--parallelismlimit` semaphore and upstream's
//!   failure pausing, in front of a store; with [`Locks`] shared by the replicas
//!   ([`Manifests::with_locks`]), one render per key across them.
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
//! # One render per key across replicas
//!
//! After the in-process single flight, the key's local leader takes the replicas' lock for
//! `--revision-cache-lock-timeout` (10 s by default; 0 disables locking). If another replica
//! holds it, the leader polls the store (20 ms, doubling to 250 ms) until the answer appears
//! (served without rendering), the lock is free (taken, then rendered), or the timeout passes
//! (rendered anyway, counted in [`LockStats::timeouts`]). The holder releases the lock once
//! its outcome is stored, also when the render fails, panics or is dropped. A hard refresh
//! never waits for another replica. A failed render stores a failure record, not an answer,
//! so a waiter takes the lock and renders itself until the key pauses.
//!
//! Departures: upstream has no single-flight, so identical concurrent requests each render
//! (the cold-cache herd); here they share one render. Upstream locks ref listings across
//! replicas, not manifests. A cached failure keeps its gRPC code, where upstream answers
//! `Unknown`.
#![forbid(unsafe_code)]

mod clock;
mod entry;
mod failure;
mod flight;
mod key;
mod locks;
mod lru;
mod manifests;
mod memory;
mod pause;
mod settings;
mod slot;
mod store;
mod tiered;

pub use clock::{Clock, System};
pub use entry::{Entry, Failures};
pub use failure::Failure;
pub use key::{Key, KeyBuilder, Name};
pub use locks::{LockStats, Locks};
pub use manifests::Manifests;
pub use memory::{Memory, Metrics};
pub use settings::Settings;
pub use slot::Slot;
pub use store::{Pending, Store};
pub use tiered::Tiered;
