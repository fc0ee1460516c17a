//! gRPC status codes that mean something to the caller, from engine errors. Messages come from
//! the engines, which name the repository (credentials stripped), revision and path.

use tonic::{Code, Status};

pub fn git(err: repo_git::Error) -> Status {
    use repo_git::Error as E;
    let code = match &err {
        E::NotFound { .. } => Code::NotFound,
        E::InvalidArgument { .. } => Code::InvalidArgument,
        E::Unavailable { .. } => Code::Unavailable,
        // The repository refused the request's credentials: a precondition of the call, not
        // the caller's own authentication.
        E::Unauthenticated { .. } => Code::FailedPrecondition,
        E::Timeout { .. } => Code::DeadlineExceeded,
        E::Internal { .. } | E::Setup { .. } => Code::Internal,
    };
    Status::new(code, err.to_string())
}

pub fn render(err: repo_render::Error) -> Status {
    use repo_render::Error as E;
    let code = match &err {
        E::NotFound { .. } => Code::NotFound,
        E::OutOfBounds { .. } | E::InvalidArgument(_) => Code::InvalidArgument,
        E::Tool { .. } | E::Parse { .. } => Code::FailedPrecondition,
        E::Timeout { .. } => Code::DeadlineExceeded,
        E::Unsupported { .. } => Code::Unimplemented,
        E::TooLarge { .. } => Code::ResourceExhausted,
        E::Io { .. } => Code::Internal,
    };
    Status::new(code, err.to_string())
}

/// A cached or fresh failure of a render, as the cache stores it.
pub fn failure(status: &Status) -> repo_cache::Failure {
    repo_cache::Failure {
        code: status.code() as i32,
        message: status.message().to_string(),
    }
}

pub fn from_failure(failure: repo_cache::Failure) -> Status {
    Status::new(Code::from_i32(failure.code), failure.message)
}
