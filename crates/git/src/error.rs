use std::path::PathBuf;
use std::time::Duration;

/// Failures of the git engine. Every message names the repository by its sanitized URL (no
/// userinfo) and, where one is involved, the revision or path; secrets are scrubbed from any
/// git output quoted here.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The repository, revision, commit or path does not exist.
    #[error("{url}: {what} not found")]
    NotFound { url: String, what: String },
    /// The request itself is unacceptable (URL scheme, revision syntax, …).
    #[error("{url}: {reason}")]
    InvalidArgument { url: String, reason: String },
    /// The repository could not be reached or broke off the transfer.
    #[error("{url}: unreachable: {detail}")]
    Unavailable { url: String, detail: String },
    /// The credentials were refused, missing, or the server's host key is not trusted.
    #[error("{url}: authentication failed: {detail}")]
    Unauthenticated { url: String, detail: String },
    /// A git command outlived the configured timeout; its whole process group was killed.
    #[error("{url}: git {op} timed out after {after:?}")]
    Timeout {
        url: String,
        op: &'static str,
        after: Duration,
    },
    /// Anything else: a local git failure, an I/O error in the cache.
    #[error("{url}: {detail}")]
    Internal { url: String, detail: String },
    /// The cache directory cannot be prepared (at startup).
    #[error("cache directory {}: {detail}", path.display())]
    Setup { path: PathBuf, detail: String },
}

impl Error {
    pub(crate) fn invalid(url: &str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            url: url.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(url: &str, what: impl Into<String>) -> Self {
        Self::NotFound {
            url: url.to_string(),
            what: what.into(),
        }
    }

    pub(crate) fn internal(url: &str, detail: impl Into<String>) -> Self {
        Self::Internal {
            url: url.to_string(),
            detail: detail.into(),
        }
    }
}

impl From<repo_source::Invalid> for Error {
    /// A request value refused while parsing: for tests and callers that hold raw strings.
    fn from(invalid: repo_source::Invalid) -> Self {
        match invalid {
            repo_source::Invalid::Url { url, reason } => Self::InvalidArgument { url, reason },
            other => Self::InvalidArgument {
                url: "request".to_string(),
                reason: other.to_string(),
            },
        }
    }
}
