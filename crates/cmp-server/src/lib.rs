//! `argocd-cmp-server`: the config management plugin sidecar, a drop-in for Argo CD's.
//!
//! ```text
//! plugin.yaml ─ config ─ serve: <plugins dir>/<name>[-<version>].sock
//!   GenerateManifest          receive (repo-cmp, confined, capped) ─ init ─ generate ─ output
//!   MatchRepository           receive ─ discover (fileName | find.glob | find.command)
//!   GetParametersAnnouncement receive ─ params (dynamic command, then static)
//!   CheckPluginConfiguration  config only
//! ```
//!
//! Commands run through [`exec`]: the app directory, the sidecar's environment plus the
//! request's, their own process group stopped on timeout, stdout capped, stderr's tail kept.
#![forbid(unsafe_code)]

pub mod config;
pub mod discover;
pub mod exec;
pub mod failure;
pub mod output;
pub mod params;
pub mod serve;
pub mod service;
pub mod settings;
pub mod workdir;
