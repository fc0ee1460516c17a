//! Loose version syntax, as upstream's Masterminds `NewVersion` accepts it: an optional `v`,
//! one to three dot-separated parts (missing ones are zero), then optional `-prerelease` and
//! `+build`. The `semver` crate validates the identifiers and orders versions.

use semver::{BuildMetadata, Prerelease, Version};

/// A version or constraint operand split into its pieces. Parts are numbers or wildcards
/// (`x`, `X`, `*`); only constraints accept the latter.
pub(crate) struct Pieces<'a> {
    pub(crate) parts: Vec<&'a str>,
    pub(crate) pre: Prerelease,
    pub(crate) build: BuildMetadata,
}

pub(crate) fn pieces(s: &str) -> Option<Pieces<'_>> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let (rest, build) = match s.split_once('+') {
        Some((_, "")) => return None,
        Some((rest, build)) => (rest, BuildMetadata::new(build).ok()?),
        None => (s, BuildMetadata::EMPTY),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((_, "")) => return None,
        Some((core, pre)) => (core, Prerelease::new(pre).ok()?),
        None => (rest, Prerelease::EMPTY),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let valid = |p: &&str| {
        matches!(*p, "x" | "X" | "*") || (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if parts.len() > 3 || !parts.iter().all(valid) {
        return None;
    }
    Some(Pieces { parts, pre, build })
}

/// Parses a tag or revision as a version; `None` if it is not one.
pub fn parse(s: &str) -> Option<Version> {
    let p = pieces(s)?;
    let mut numbers = [0u64; 3];
    for (n, part) in numbers.iter_mut().zip(&p.parts) {
        // Wildcards fail to parse as numbers.
        *n = part.parse().ok()?;
    }
    let [major, minor, patch] = numbers;
    Some(Version {
        major,
        minor,
        patch,
        pre: p.pre,
        build: p.build,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loose_versions() {
        assert_eq!(parse("v1.2.3").unwrap(), Version::new(1, 2, 3));
        assert_eq!(parse("1.2").unwrap(), Version::new(1, 2, 0));
        assert_eq!(parse("2").unwrap(), Version::new(2, 0, 0));
        assert_eq!(parse("1.2.3-rc.1+b5").unwrap().to_string(), "1.2.3-rc.1+b5");
        for bad in [
            "",
            "main",
            "1.2.3.4",
            "1..2",
            "1.x",
            "v",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3-a b",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
