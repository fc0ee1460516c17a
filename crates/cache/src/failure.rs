/// A failed render, as the gRPC status it becomes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The gRPC status code number.
    pub code: i32,
    pub message: String,
}

impl Failure {
    /// The answer given while generation is paused; upstream's wording, which users search for.
    pub(crate) fn cached(&self) -> Self {
        Self {
            code: self.code,
            message: format!("Manifest generation error (cached): {}", self.message),
        }
    }
}
