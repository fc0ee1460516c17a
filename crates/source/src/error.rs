/// A request value that can never be used. Messages name the value (URLs without userinfo) and
/// the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A repository URL that names no usable transport or could smuggle a command.
    #[error("{url}: {reason}")]
    Url { url: String, reason: String },
    /// A value that would pass for a command-line option.
    #[error("{what} {value:?} must not start with '-'")]
    Option { what: &'static str, value: String },
    /// A revision with control characters.
    #[error("revision {0:?} contains control characters")]
    Revision(String),
    /// A path that is absolute, leaves the repository or carries NUL.
    #[error("{path}: {reason}")]
    Path { path: String, reason: &'static str },
    /// A repository setting this server does not implement yet; ignoring it would give a
    /// plausible, wrong answer.
    #[error("repository {field}: {what} is not supported by this repo-server yet; remove the setting from the repository or use upstream's repo-server for it")]
    Unsupported {
        field: &'static str,
        what: &'static str,
    },
    /// The request carries no repository at all (upstream's wording).
    #[error("must pass a valid repo")]
    NoRepo,
    /// A required field of the request is empty or absent.
    #[error("{0} is missing")]
    Missing(&'static str),
}
