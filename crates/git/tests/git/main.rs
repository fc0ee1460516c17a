//! Integration tests of the git engine against real servers on loopback: `git daemon`,
//! `git http-backend` behind HTTP basic auth, and `sshd`.

mod api;
mod github_app;
mod lfs;
mod metadata;
mod network;
mod recovery;
mod refs;
mod resolve;
mod security;
mod shared_refs;
mod snapshot;
mod submodules;
mod support;
mod transport;
mod url_credentials;
