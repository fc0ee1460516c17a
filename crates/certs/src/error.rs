use std::path::PathBuf;

/// Why a `repoctl certs` command could not run. Problems that `check` finds in certificate
/// material are findings, not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path} already exists; pass --force to overwrite it, or choose another --out")]
    Exists { path: PathBuf },
    #[error("{path} is a directory; remove it or choose another --out")]
    Directory { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--namespace {0:?} is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)")]
    Namespace(String),
    #[error("--dns-name {0:?} is neither a DNS name nor an IP address")]
    Name(String),
    #[error("cannot generate {what}: {source}")]
    Generate { what: String, source: rcgen::Error },
    #[error("the system random source failed; cannot make serial numbers")]
    Random,
    #[error("{path}: certificate #{index} cannot be parsed: {detail}")]
    Parse {
        path: PathBuf,
        index: usize,
        detail: String,
    },
    #[error(transparent)]
    Tls(#[from] repo_tls::Error),
    #[error("cannot write to standard output: {0}")]
    Output(#[source] std::io::Error),
}
