//! The config management plugin protocol (`plugin.ConfigManagementPluginService`), the pieces
//! both sides share:
//!
//! ```text
//! repo-server: Pack ─pack()→ Packed ─requests()→ metadata, File chunks ─┐  unix socket
//!              detect() → Found { Plugin, … }: Check…, Match…, Get…, Generate ┘  <dir>/<name>.sock
//! sidecar:     receive(stream) → capped temp file → size, checksum → unpack confined
//!              → Received { metadata, dir } … discard(dir)
//! ```
//!
//! The archive is upstream's: a tar.gz of the repository (or, with manifest-generate-paths,
//! the directory holding the app and the annotation's paths), `appRelPath` locating the app in
//! it, `checksum` its SHA-256, `size` its bytes. Links are written as links, never followed;
//! one leaving the sent tree by its text is refused by the sender, and by its text or on disk
//! by the receiver. File work runs on the blocking pool.
#![forbid(unsafe_code)]

mod client;
mod detect;
mod error;
mod pack;
mod receive;
mod scope;
mod send;
mod sockets;

pub use client::{Dial, Plugin, DEFAULT_MAX_MESSAGE};
pub use detect::{detect, Found};
pub use error::Error;
pub use pack::{Pack, Packed};
pub use receive::{discard, receive, Limits, Received};
pub use scope::generate_root;
pub use send::{chunk_size, DEFAULT_CHUNK_SIZE};
pub use sockets::{Sockets, DEFAULT_SOCKET_DIR};
