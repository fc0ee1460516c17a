//! Commit SHAs the engine is handed (revisions are checked when requests are parsed, see
//! [`repo_source::Revision`]).

use crate::Error;

/// A full commit SHA, lowercased, or InvalidArgument.
pub(crate) fn commit(url: &str, sha: &str) -> Result<String, Error> {
    if !is_sha(sha) {
        return Err(Error::invalid(
            url,
            format!("{sha:?} is not a full commit SHA"),
        ));
    }
    Ok(sha.to_ascii_lowercase())
}

pub(crate) use repo_source::{is_abbreviated, is_sha};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_shas_are_commits() {
        for bad in ["-x", "--all", "abc1234", "main"] {
            assert!(
                matches!(commit("u", bad), Err(Error::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(commit("u", &"AB".repeat(20)).unwrap(), "ab".repeat(20));
    }
}
