//! The repo-server's git engine.
//!
//! [`Cache`] keeps one bare mirror per normalized repository URL under [`Settings::dir`] and
//! gives out immutable per-commit [`Snapshot`]s, so requests for different commits of one
//! repository never wait on each other (upstream serializes them on one locked clone).
//!
//! ```text
//! Cache::new(Settings)                       -> Cache            (Clone, Send + Sync)
//! cache.refs(&Repo)                          -> Arc<Refs>        ls-remote, TTL + single-flight
//! cache.resolve(&Repo, &Revision, prefix)   -> Resolved         upstream's LsRemote semantics
//! cache.resolve_commit(&Repo, &Revision, prefix, Refresh) -> Resolved  … SHA checked, tag peeled
//! cache.snapshot(&Repo, sha)                 -> Arc<Snapshot>    fetch if missing, shared checkout
//!                                                                (LFS objects when Repo::lfs)
//! cache.snapshot_with(&Repo, sha, submodules) -> Arc<Snapshot>   … submodules chosen per call
//! cache.authorize_commit(&Repo, sha)         -> ()               its submodules readable too
//! cache.commit(&Repo, sha)                   -> Commit           GetRevisionMetadata
//! cache.changed_paths(&Repo, from, to)       -> Vec<String>      UpdateRevisionForPaths
//! cache.test(&Repo)                          -> ()               TestRepository
//! cache.integrity(&Repo, Target, &Policies, Option<&Keyring>) -> Option<Outcome>  sourceIntegrity (GnuPG)
//! normalize(url)                             -> String           cache key of a URL
//! ```
//!
//! Every git command runs through one hardened runner: a cleared environment (`HOME` an empty
//! directory, no system or global config, no prompts, LFS smudging off), only the https, http,
//! ssh and git transports (and file when [`Settings::allow_file`]), credentials only in 0600
//! files of the command's private directory, read by an askpass helper or included as config
//! (never argv, never the environment), extra CAs per host from `argocd-tls-certs-cm` and the
//! proxy chosen by upstream's `noProxy` rules in the command's config, a timeout that kills
//! the command's whole process group, bounded output and scrubbed diagnostics.
//!
//! Choices:
//! - Ref listing is `git ls-remote --symref` through that runner rather than gix: every
//!   transport and credential kind then behaves the same for listing and fetching, and the
//!   crate stays small.
//! - A snapshot is `git read-tree --reset -u` of the commit from the mirror into a scratch
//!   directory with a private index, renamed into place when complete. It holds files only (no
//!   `.git`), reads the mirror without locking it, and a crash leaves only scratch, which the
//!   next start wipes. Submodules (on by default, [`Settings::submodules`]) are filled in
//!   before the rename, each from its own mirror (see `submodule.rs`), and so are the LFS
//!   objects of a repository with [`Repo::lfs`] (upstream's `enableLfs`), fetched by
//!   `git lfs fetch` from the repository's own LFS endpoint, never one a `.lfsconfig` names
//!   (see `lfs.rs`). Fetches take a
//!   per-mirror lock and are followed, when they fail or time out, by a sweep of temporary
//!   packs and lock files.
//! - Semver constraints follow upstream's Masterminds semantics: comparisons (`=`, `!=`, `>`,
//!   `<`, `>=`, `<=`), wildcards (`1.2.*`, `1.x`, `*`), `~1.2`, `^1.2`, hyphen ranges
//!   (`1.2 - 1.4`), AND with spaces or commas (`>=1.0.0 <2.0.0`), OR with `||`; prereleases
//!   match only when the constraint names one (`*-0`). The `semver` crate parses and orders the
//!   versions.
//! - Ref listings and mirrors are keyed by [`normalize`]d URL, not by credentials, as upstream.
//! - With [`Settings::shared_refs`], replicas share the ref listings of repositories requested
//!   without any credentials (upstream's `git-refs` entries, one replica listing at a time);
//!   with credentials, each replica lists and proves them itself (see `shared.rs`).
//!
//! Errors name the repository by its URL without userinfo, plus the revision or commit
//! involved; see [`Error`].
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod askpass;
mod auth;
mod cache;
mod capture;
mod classify;
mod commit;
mod env;
mod error;
mod flight;
// GitHub App installation tokens (issue 14 item 5).
mod github_app;
mod grants;
mod group;
// GnuPG verification and source integrity (issue 14 item 6).
mod keyring;
mod layout;
mod lfs;
mod listing;
mod lock;
mod mirror;
mod observe;
mod open;
mod policy;
mod probe;
mod proxy;
mod refs;
mod resolve;
mod revision;
mod run;
mod scrub;
mod settings;
mod shared;
mod size;
mod snapshot;
mod store;
mod submodule;
mod sweep;
mod trailers;
mod trust;
mod verify;

pub use cache::{Cache, Refresh};
pub use commit::Commit;
pub use error::Error;
pub use keyring::{
    Keyring, Ring, DEFAULT_HOME as DEFAULT_GNUPGHOME, DEFAULT_SOURCE as DEFAULT_GPG_DATA_PATH,
};
pub use observe::{Observer, Request};
pub use policy::{Check, Gpg, Outcome, Policies, Policy, CHECK as INTEGRITY_CHECK};
pub use refs::Refs;
pub use repo_source::Proxies;
pub use repo_source::{display, normalize, Creds, Repo, Revision};
pub use resolve::Resolved;
pub use settings::{
    Retry, Settings, DEFAULT_GITHUB_APP_CREDS_EXPIRATION, DEFAULT_KNOWN_HOSTS,
    DEFAULT_REF_CACHE_TTL, DEFAULT_REF_LOCK_TIMEOUT, DEFAULT_TIMEOUT, DEFAULT_TLS_DATA_PATH,
};
pub use shared::{decode_refs, encode_refs, Pending, SharedRefs};
pub use snapshot::Snapshot;
pub use trailers::Reference;
pub use verify::{Signature, Signatures, Target, Verdict};
