//! Checks on revisions before they get anywhere near a command line.

use crate::Error;

/// Refuses what git could take for an option, and control characters.
pub(crate) fn check(url: &str, revision: &str) -> Result<(), Error> {
    if revision.starts_with('-') {
        return Err(Error::invalid(
            url,
            format!("revision {revision:?} must not begin with '-'"),
        ));
    }
    if revision.chars().any(char::is_control) {
        return Err(Error::invalid(
            url,
            format!("revision {revision:?} contains control characters"),
        ));
    }
    Ok(())
}

/// A full commit SHA, lowercased, or InvalidArgument.
pub(crate) fn commit(url: &str, sha: &str) -> Result<String, Error> {
    check(url, sha)?;
    if !is_sha(sha) {
        return Err(Error::invalid(
            url,
            format!("{sha:?} is not a full commit SHA"),
        ));
    }
    Ok(sha.to_ascii_lowercase())
}

pub(crate) fn is_sha(s: &str) -> bool {
    s.len() == 40 && is_hex(s)
}

/// Upstream takes 7 to 40 hex digits as a possibly abbreviated SHA.
pub(crate) fn is_abbreviated(s: &str) -> bool {
    (7..=40).contains(&s.len()) && is_hex(s)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_option_like_revisions() {
        for bad in ["-x", "--upload-pack=touch /tmp/p", "main\n", "a\0b"] {
            assert!(
                matches!(check("u", bad), Err(Error::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
        assert!(check("u", ">=1.0.0 <2.0.0").is_ok());
        assert!(commit("u", "abc1234").is_err());
        assert_eq!(commit("u", &"AB".repeat(20)).unwrap(), "ab".repeat(20));
    }
}
