//! Versions and semver constraints with upstream's (Masterminds semver v3) syntax, shared by
//! git tags, Helm chart versions and OCI tags.

mod constraint;
mod version;

pub use constraint::Constraint;
pub use version::parse as version;

use std::cmp::Ordering;

/// Why [`max_version`] found nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoVersion {
    #[error("no version matches the constraint {0:?}")]
    NoMatch(String),
    #[error("{0:?} is neither a version, a semver constraint nor an existing version")]
    Invalid(String),
}

/// Upstream's `versions.MaxVersion` without a tag prefix: a version is a pin, returned as
/// written without looking at `versions`; a constraint picks the highest version it matches;
/// anything else must be one of `versions` exactly.
pub fn max_version<'a>(
    revision: &str,
    versions: impl IntoIterator<Item = &'a str>,
) -> Result<String, NoVersion> {
    if version(revision).is_some() {
        return Ok(revision.to_string());
    }
    let Some(constraint) = Constraint::parse(revision) else {
        return versions
            .into_iter()
            .find(|v| *v == revision)
            .map(str::to_string)
            .ok_or_else(|| NoVersion::Invalid(revision.to_string()));
    };
    let mut best: Option<(semver::Version, &str)> = None;
    for text in versions {
        let Some(v) = version(text) else { continue };
        let higher = best
            .as_ref()
            .is_none_or(|(b, _)| v.cmp_precedence(b) == Ordering::Greater);
        if constraint.matches(&v) && higher {
            best = Some((v, text));
        }
    }
    best.map(|(_, text)| text.to_string())
        .ok_or_else(|| NoVersion::NoMatch(revision.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_constraints_and_names() {
        let tags = ["1.0.0", "1.2.3", "v1.9.0", "2.0.0-rc.1", "latest"];
        assert_eq!(max_version("1.2.3", tags), Ok("1.2.3".into()));
        assert_eq!(
            max_version("9.9.9", tags),
            Ok("9.9.9".into()),
            "a pin is not checked"
        );
        assert_eq!(max_version("^1.0", tags), Ok("v1.9.0".into()));
        assert_eq!(max_version("*", tags), Ok("v1.9.0".into()), "no prerelease");
        assert_eq!(max_version(">=2.0.0-0", tags), Ok("2.0.0-rc.1".into()));
        assert_eq!(max_version("latest", tags), Ok("latest".into()));
        assert_eq!(
            max_version("~3.0", tags),
            Err(NoVersion::NoMatch("~3.0".into()))
        );
        assert_eq!(
            max_version("nightly", tags),
            Err(NoVersion::Invalid("nightly".into()))
        );
    }
}
