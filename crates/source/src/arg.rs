//! The one rule against option injection: a value taken from a request that reaches a command
//! line (git, helm, kustomize) must not start with `-`, or the tool would read it as a flag.

use crate::Invalid;

/// A request value that cannot pass for a command-line option.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arg(String);

impl Arg {
    /// `value`, or [`Invalid::Option`] naming `what` when it starts with `-`.
    pub fn new(what: &'static str, value: impl Into<String>) -> Result<Self, Invalid> {
        let value = value.into();
        if value.starts_with('-') {
            return Err(Invalid::Option { what, value });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for Arg {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_like_values_are_refused_with_their_name() {
        let err = Arg::new("revision", "--upload-pack=x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "revision \"--upload-pack=x\" must not start with '-'"
        );
        assert_eq!(Arg::new("path", "a-b").unwrap().as_str(), "a-b");
    }
}
