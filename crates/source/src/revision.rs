//! The revision a request names: a branch, tag, `refs/…`, semver constraint or commit SHA.

use crate::{Arg, Invalid};

/// A revision safe to hand to git: not option-like, no control characters. Empty means `HEAD`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Revision(Arg);

impl Revision {
    pub fn new(raw: &str) -> Result<Self, Invalid> {
        let raw = if raw.is_empty() { "HEAD" } else { raw };
        if raw.chars().any(char::is_control) {
            return Err(Invalid::Revision(raw.to_string()));
        }
        Arg::new("revision", raw).map(Self)
    }

    pub fn head() -> Self {
        Self(Arg::new("revision", "HEAD").expect("HEAD is not option-like"))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// A full 40-digit commit SHA.
    pub fn is_sha(&self) -> bool {
        is_sha(self.as_str())
    }

    /// 7 to 40 hex digits: possibly an abbreviated SHA, as upstream reads it.
    pub fn is_abbreviated(&self) -> bool {
        is_abbreviated(self.as_str())
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `s` is a full commit SHA (40 hex digits).
pub fn is_sha(s: &str) -> bool {
    s.len() == 40 && is_hex(s)
}

/// Whether `s` may be an abbreviated SHA: upstream takes 7 to 40 hex digits as one.
pub fn is_abbreviated(s: &str) -> bool {
    (7..=40).contains(&s.len()) && is_hex(s)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_option_like_and_control_characters() {
        for bad in ["-x", "--upload-pack=touch /tmp/p", "main\n", "a\0b"] {
            assert!(Revision::new(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(Revision::new("-1"), Err(Invalid::Option { .. })));
        assert_eq!(
            Revision::new(">=1.0.0 <2.0.0").unwrap().as_str(),
            ">=1.0.0 <2.0.0"
        );
        assert_eq!(Revision::new("").unwrap(), Revision::head());
        assert!(Revision::new(&"ab".repeat(20)).unwrap().is_sha());
        assert!(Revision::new("abc1234").unwrap().is_abbreviated());
        assert!(!Revision::new("main").unwrap().is_abbreviated());
    }
}
