//! A request's failure: the gRPC code and upstream's wording, prefixed with what was being
//! done (`error generating manifests: `sh -c …` failed exit status: 1: <stderr>`).

use tonic::{Code, Status};

use crate::exec::{self, ExecError};

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
            // The caller's own deadline; ARGOCD_EXEC_TIMEOUT is the command's failure, as
            // upstream reports a killed command.
            ExecError::Timeout { why, .. } if why == exec::REQUEST_DEADLINE => {
                Code::DeadlineExceeded
            }
            ExecError::Timeout { .. } => Code::Unknown,
            ExecError::TooLarge { .. } => Code::ResourceExhausted,
            // Upstream returns plain errors, which gRPC-Go sends as Unknown.
            ExecError::Empty | ExecError::Start { .. } | ExecError::Failed { .. } => Code::Unknown,
        };
        Self::new(code, e.to_string())
    }
}

/// The most of a message sent: it travels in an HTTP/2 trailer, which clients bound (h2 at
/// 16 KiB, grpcio at 8 KiB, the repo-server's client shows 4 KiB).
pub const MAX_MESSAGE: usize = 4000;
const HEAD: usize = 1000;

impl From<Failure> for Status {
    fn from(f: Failure) -> Self {
        Status::new(f.code, capped(&f.message))
    }
}

/// The start (what failed) and the end (a command's last words) of a long message.
fn capped(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    const CUT: &str = " … ";
    let mut head = HEAD;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (MAX_MESSAGE - HEAD - CUT.len());
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}{CUT}{}", &text[..head], &text[tail..])
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_keep_their_start_and_end() {
        let text = format!("what failed: {}é the end", "x".repeat(20_000));
        let status = Status::from(Failure::new(Code::Unknown, text));
        let got = status.message();
        assert!(got.len() <= MAX_MESSAGE, "{}", got.len());
        assert!(
            got.starts_with("what failed: xx") && got.ends_with("xé the end"),
            "{got}"
        );
        assert!(got.contains(" … "));
        let short = Status::from(Failure::new(Code::Unknown, "short"));
        assert_eq!(short.message(), "short");
    }
}
