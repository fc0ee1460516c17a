//! The `argocd-cmp-server` binary, started as a process with a plugin.yaml, driven over its
//! real unix socket by the repo-server's client (repo-cmp), running real `sh`, `cat`, `find`.

mod bounds;
mod discovery;
mod generate;
mod lifecycle;
mod support;
