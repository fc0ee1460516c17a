//! Revision resolution against a ref listing, with the semantics of upstream's `LsRemote`:
//! semver constraints on tags first, then ref names (full or short, branches before tags),
//! the symbolic `HEAD`, and finally hex strings taken as abbreviated SHAs.

use std::cmp::Ordering;

use semver::Version;

use crate::{revision, Refs};
use repo_source::semver::{version as parse_version, Constraint};

/// A revision resolved to a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Full commit SHA.
    pub sha: String,
    /// The ref it came from (`refs/heads/main`, `refs/tags/v1.2.0`, …); `None` for a SHA.
    pub reference: Option<String>,
}

pub(crate) enum Outcome {
    Found(Resolved),
    /// No ref matched and the revision looks like an abbreviated SHA: look in the mirror.
    Abbreviated,
    Missing,
}

/// `revision` is never a full SHA here (those pass through without a listing).
pub(crate) fn resolve(refs: &Refs, revision: &str, tag_prefix: &str) -> Outcome {
    let revision = if revision.is_empty() {
        "HEAD"
    } else {
        revision
    };
    if let Some(found) = semver(refs, revision, tag_prefix).or_else(|| by_name(refs, revision)) {
        return Outcome::Found(found);
    }
    if revision::is_abbreviated(revision) {
        return Outcome::Abbreviated;
    }
    Outcome::Missing
}

/// The highest tag satisfying a constraint; a plain version is a pin, left to name matching.
fn semver(refs: &Refs, revision: &str, tag_prefix: &str) -> Option<Resolved> {
    if parse_version(revision).is_some() {
        return None;
    }
    let constraint = Constraint::parse(revision)?;
    let mut best: Option<(Version, &str, &str)> = None;
    for (name, sha) in &refs.tags {
        let Some(v) = name.strip_prefix(tag_prefix).and_then(parse_version) else {
            continue;
        };
        let higher = best
            .as_ref()
            .is_none_or(|(b, _, _)| v.cmp_precedence(b) == Ordering::Greater);
        if constraint.matches(&v) && higher {
            best = Some((v, name, sha));
        }
    }
    best.map(|(_, name, sha)| Resolved {
        sha: sha.to_string(),
        reference: Some(format!("refs/tags/{name}")),
    })
}

fn by_name(refs: &Refs, revision: &str) -> Option<Resolved> {
    let found = |reference: String, sha: &str| Resolved {
        sha: sha.to_string(),
        reference: Some(reference),
    };
    if revision == "HEAD" {
        if let Some(target) = &refs.head {
            if let Some(sha) = full(refs, target) {
                return Some(found(target.clone(), sha));
            }
        }
        // A remote without a symbolic HEAD advertises it as a plain ref.
        return refs.other("HEAD").map(|sha| found("HEAD".into(), sha));
    }
    if revision.starts_with("refs/") {
        return full(refs, revision).map(|sha| found(revision.into(), sha));
    }
    if let Some(sha) = refs.branch(revision) {
        return Some(found(format!("refs/heads/{revision}"), sha));
    }
    if let Some(sha) = refs.tag(revision) {
        return Some(found(format!("refs/tags/{revision}"), sha));
    }
    // Other refs by their short name, as upstream: `pull/1/head`, `remotes/x` as `x`.
    refs.other.iter().find_map(|(name, sha)| {
        let short = name.strip_prefix("refs/")?;
        let short = short.strip_prefix("remotes/").unwrap_or(short);
        (short == revision).then(|| found(name.clone(), sha))
    })
}

fn full<'a>(refs: &'a Refs, name: &str) -> Option<&'a str> {
    if let Some(branch) = name.strip_prefix("refs/heads/") {
        return refs.branch(branch);
    }
    if let Some(tag) = name.strip_prefix("refs/tags/") {
        return refs.tag(tag);
    }
    refs.other(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> Refs {
        let pair = |n: &str, s: &str| (n.to_string(), s.to_string());
        Refs {
            head: Some("refs/heads/main".into()),
            branches: vec![pair("main", "m"), pair("1.0.0", "b"), pair("deadbeef", "d")],
            tags: vec![
                pair("1.0.0", "t100"),
                pair("app/1.4.0", "a140"),
                pair("v1.2.0", "t120"),
                pair("v1.2.5", "t125"),
                pair("v1.3.0-rc1", "t130rc"),
                pair("v2.0.0", "t200"),
            ],
            other: vec![pair("HEAD", "m"), pair("refs/pull/1/head", "p1")],
        }
    }

    fn sha(revision: &str, prefix: &str) -> Option<(String, Option<String>)> {
        match resolve(&refs(), revision, prefix) {
            Outcome::Found(r) => Some((r.sha, r.reference)),
            _ => None,
        }
    }

    #[test]
    fn names() {
        let r = |s: &str, reference: &str| Some((s.to_string(), Some(reference.to_string())));
        assert_eq!(sha("", ""), r("m", "refs/heads/main"));
        assert_eq!(sha("HEAD", ""), r("m", "refs/heads/main"));
        assert_eq!(sha("refs/heads/main", ""), r("m", "refs/heads/main"));
        assert_eq!(
            sha("1.0.0", ""),
            r("b", "refs/heads/1.0.0"),
            "branch before tag"
        );
        assert_eq!(sha("refs/tags/1.0.0", ""), r("t100", "refs/tags/1.0.0"));
        assert_eq!(sha("v1.2.0", ""), r("t120", "refs/tags/v1.2.0"), "a pin");
        assert_eq!(sha("pull/1/head", ""), r("p1", "refs/pull/1/head"));
        assert_eq!(
            sha("deadbeef", ""),
            r("d", "refs/heads/deadbeef"),
            "names before SHAs"
        );
        assert!(matches!(
            resolve(&refs(), "abc1234", ""),
            Outcome::Abbreviated
        ));
        assert!(matches!(resolve(&refs(), "nope", ""), Outcome::Missing));
        assert!(matches!(
            resolve(&refs(), "refs/heads/nope", ""),
            Outcome::Missing
        ));
    }

    #[test]
    fn semver_constraints_pick_the_highest_tag() {
        let t = |s: &str, tag: &str| Some((s.to_string(), Some(format!("refs/tags/{tag}"))));
        assert_eq!(sha("1.2.*", ""), t("t125", "v1.2.5"));
        assert_eq!(sha(">=1.0.0 <2.0.0", ""), t("t125", "v1.2.5"));
        assert_eq!(sha("^1.2", ""), t("t125", "v1.2.5"));
        assert_eq!(sha("~1.2", ""), t("t125", "v1.2.5"));
        assert_eq!(sha("*", ""), t("t200", "v2.0.0"));
        assert_eq!(sha(">=1.3.0-0 <2.0.0", ""), t("t130rc", "v1.3.0-rc1"));
        assert_eq!(sha("1.x", "app/"), t("a140", "app/1.4.0"));
        assert_eq!(sha("9.x", ""), None);
    }
}
