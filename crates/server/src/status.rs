//! The one mapping from engine failures to gRPC status codes. Messages come from the engines,
//! which name the repository (credentials stripped), revision and path.

use tonic::{Code, Status};

use crate::engine::Error;

/// The code a caller sees for `err`.
pub(crate) fn code(err: &Error) -> Code {
    match err {
        Error::Invalid(repo_source::Invalid::Unsupported { .. }) => Code::Unimplemented,
        Error::Invalid(_) | Error::Request(_) => Code::InvalidArgument,
        Error::Git(e) => git(e),
        Error::Render(e) => render(e),
        Error::Fetch(e) => fetch(e),
        Error::Cached(failure) => Code::from_i32(failure.code),
        Error::Unsupported(_) => Code::Unimplemented,
        Error::Unknown(_) => Code::Unknown,
        Error::Internal(_) => Code::Internal,
    }
}

fn git(err: &repo_git::Error) -> Code {
    use repo_git::Error as E;
    match err {
        E::NotFound { .. } => Code::NotFound,
        E::InvalidArgument { .. } => Code::InvalidArgument,
        E::Unavailable { .. } => Code::Unavailable,
        // The repository refused the request's credentials: a precondition of the call, not
        // the caller's own authentication.
        E::Unauthenticated { .. } => Code::FailedPrecondition,
        E::Timeout { .. } => Code::DeadlineExceeded,
        E::Internal { .. } | E::Setup { .. } => Code::Internal,
    }
}

fn render(err: &repo_render::Error) -> Code {
    use repo_render::Error as E;
    match err {
        E::NotFound { .. } => Code::NotFound,
        E::OutOfBounds { .. } | E::InvalidArgument(_) => Code::InvalidArgument,
        E::Tool { .. } | E::Parse { .. } => Code::FailedPrecondition,
        E::Timeout { .. } => Code::DeadlineExceeded,
        E::Unsupported { .. } => Code::Unimplemented,
        E::TooLarge { .. } => Code::ResourceExhausted,
        E::Remote { .. } => Code::Unavailable,
        E::Io { .. } => Code::Internal,
    }
}

fn fetch(err: &repo_fetch::Error) -> Code {
    use repo_fetch::Error as E;
    match err {
        E::NotFound(_) => Code::NotFound,
        // As for git: the server refused the repository's credentials, not the caller's.
        E::Denied(_) => Code::FailedPrecondition,
        E::Invalid(_) => Code::InvalidArgument,
        E::TooLarge(_) => Code::ResourceExhausted,
        E::Corrupt(_) => Code::DataLoss,
        E::Unavailable(_) => Code::Unavailable,
        E::Unsupported(_) => Code::Unimplemented,
        E::Io { .. } => Code::Internal,
    }
}

/// A render failure as the manifest cache remembers it.
pub(crate) fn failure(err: &Error) -> repo_cache::Failure {
    repo_cache::Failure {
        code: code(err) as i32,
        message: err.to_string(),
    }
}

impl From<Error> for Status {
    /// The status a caller sees for `err`.
    fn from(err: Error) -> Self {
        Status::new(code(&err), err.to_string())
    }
}
