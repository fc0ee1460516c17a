//! Why an engine call failed. The gRPC codes for each kind are chosen in one place,
//! `crate::status`.

use repo_source::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request names something that can never be used.
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// A request value that is malformed in a way only the engine can tell (a glob).
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Git(#[from] repo_git::Error),
    #[error("{0}")]
    Render(#[from] repo_render::Error),
    /// A Helm repository or OCI registry failed or refused.
    #[error("{0}")]
    Fetch(#[from] repo_fetch::Error),
    /// A failure remembered by the manifest cache (failure pausing), replayed as it was.
    #[error("{}", .0.message)]
    Cached(repo_cache::Failure),
    /// A request field or source kind this server does not serve yet; names it.
    #[error("{0}")]
    Unsupported(String),
    /// Upstream answers this failure with a plain error (gRPC code UNKNOWN).
    #[error("{0}")]
    Unknown(String),
    /// A local failure: a work directory, a blocking task, a corrupt cache entry.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        Self::Internal(format!("{context}: {e}"))
    }
}
