//! End-to-end tests of `repoctl certs`: files written by `init` are parsed back with
//! x509-parser, loaded and verified with the repo-server's own TLS code, and used in real
//! (in-memory) mTLS handshakes; `check` and `inspect` run on good and broken material.
#![forbid(unsafe_code)]

mod check;
mod cli;
mod common;
mod handshake;
mod init;
mod inspect;
mod revoke;
