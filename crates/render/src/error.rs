//! Why a render failed. Messages name the repository path or tool at fault and, where there is
//! one, the fix; they never carry absolute scratch paths or symlink targets.

use std::time::Duration;

/// A render failure. The gRPC layer maps each variant to a status code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path the request names does not exist in the repository.
    #[error("{path}: not found in the repository; check the path and the revision")]
    NotFound { path: String },

    /// A path, or a symlink on it, leads outside the repository.
    #[error("{path}: leads outside the repository; remove the symlink or `..` that escapes it")]
    OutOfBounds { path: String },

    /// The request itself is malformed.
    #[error("{0}")]
    InvalidArgument(String),

    /// A tool exited unsuccessfully; `message` is its scrubbed, capped stderr.
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },

    /// A tool ran longer than the configured timeout and was killed.
    #[error("{tool} timed out after {after:?} and was killed; simplify the app or raise the exec timeout")]
    Timeout { tool: &'static str, after: Duration },

    /// Something this renderer does not do (yet), e.g. config management plugins.
    #[error("{what} is not supported by this repo-server")]
    Unsupported { what: String },

    /// A manifest or configuration file could not be parsed.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },

    /// Input or output exceeded a configured size limit.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },

    /// A remote value file could not be fetched; `url` is shown without userinfo.
    #[error("remote value file {url}: {message}")]
    Remote { url: String, message: String },

    /// Local I/O on the scratch area failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn parse(file: impl Into<String>, message: impl ToString) -> Self {
        Self::Parse {
            file: file.into(),
            message: message.to_string(),
        }
    }
}
