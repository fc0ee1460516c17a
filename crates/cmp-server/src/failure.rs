//! A request's failure: the gRPC code and upstream's wording, prefixed with what was being
//! done (`error generating manifests: `sh -c …` failed exit status: 1: <stderr>`).

use tonic::{Code, Status};

use crate::exec::ExecError;

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `<what>: <message>`.
    pub fn context(self, what: &str) -> Self {
        Self {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

impl From<ExecError> for Failure {
    fn from(e: ExecError) -> Self {
        let code = match e {
            ExecError::Timeout { .. } => Code::DeadlineExceeded,
            ExecError::TooLarge { .. } => Code::ResourceExhausted,
            // Upstream returns plain errors, which gRPC-Go sends as Unknown.
            ExecError::Empty | ExecError::Start { .. } | ExecError::Failed { .. } => Code::Unknown,
        };
        Self::new(code, e.to_string())
    }
}

impl From<Failure> for Status {
    fn from(f: Failure) -> Self {
        Status::new(f.code, f.message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
