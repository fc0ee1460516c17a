//! What can go wrong fetching from a Helm repository or an OCI registry. Every message names the
//! repository (without userinfo) and, where there is one, the chart and version or the tag.

/// A failed fetch; the kind decides the gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository, chart, version, tag or digest does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The server refused the credentials (HTTP 401/403).
    #[error("{0}")]
    Denied(String),
    /// A request value is wrong: a version that is no constraint, a malformed reference.
    #[error("{0}")]
    Invalid(String),
    /// An index, manifest or archive is over its cap.
    #[error("{0}")]
    TooLarge(String),
    /// What the server sent is not what it claims: digest mismatch, unparseable index.
    #[error("{0}")]
    Corrupt(String),
    /// The server could not be reached or failed (network, timeout, 5xx).
    #[error("{0}")]
    Unavailable(String),
    /// A repository setting this server does not implement, named by its field.
    #[error("{0}")]
    Unsupported(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}
