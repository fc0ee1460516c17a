//! A remote's refs, parsed from `git ls-remote --symref`.

/// The refs a remote advertises. Branches and tags are sorted by name (upstream's `ListRefs`
/// order); annotated tags carry the commit they peel to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refs {
    /// Target of the remote's symbolic `HEAD`, e.g. `refs/heads/main`.
    pub head: Option<String>,
    /// `(name, sha)` with `name` relative to `refs/heads/`.
    pub branches: Vec<(String, String)>,
    /// `(name, sha)` with `name` relative to `refs/tags/`; the sha is the peeled commit.
    pub tags: Vec<(String, String)>,
    /// Every other advertised ref by full name, in the remote's order: `HEAD` itself,
    /// `refs/pull/1/head`, `refs/merge-requests/…`, …
    pub other: Vec<(String, String)>,
}

impl Refs {
    pub(crate) fn parse(listing: &[u8]) -> Self {
        let mut refs = Self::default();
        let mut peeled = Vec::new();
        for line in String::from_utf8_lossy(listing).lines() {
            let Some((left, name)) = line.split_once('\t') else {
                continue;
            };
            if let Some(target) = left.strip_prefix("ref: ") {
                if name == "HEAD" {
                    refs.head = Some(target.to_string());
                }
                continue;
            }
            let sha = left.to_string();
            if let Some(tag) = name.strip_prefix("refs/tags/") {
                match tag.strip_suffix("^{}") {
                    Some(tag) => peeled.push((tag.to_string(), sha)),
                    None => refs.tags.push((tag.to_string(), sha)),
                }
            } else if let Some(branch) = name.strip_prefix("refs/heads/") {
                refs.branches.push((branch.to_string(), sha));
            } else {
                refs.other.push((name.to_string(), sha));
            }
        }
        for (tag, sha) in peeled {
            if let Some(entry) = refs.tags.iter_mut().find(|(name, _)| *name == tag) {
                entry.1 = sha;
            }
        }
        refs.branches.sort();
        refs.tags.sort();
        refs
    }

    pub(crate) fn branch(&self, name: &str) -> Option<&str> {
        find(&self.branches, name)
    }

    pub(crate) fn tag(&self, name: &str) -> Option<&str> {
        find(&self.tags, name)
    }

    pub(crate) fn other(&self, name: &str) -> Option<&str> {
        find(&self.other, name)
    }
}

fn find<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, sha)| sha.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_symref_listing_and_peels_tags() {
        let listing = b"ref: refs/heads/main\tHEAD\n\
            aaaa\tHEAD\n\
            aaaa\trefs/heads/main\n\
            bbbb\trefs/heads/dev\n\
            cccc\trefs/pull/1/head\n\
            dddd\trefs/tags/v1\n\
            aaaa\trefs/tags/v1^{}\n\
            eeee\trefs/tags/light\n";
        let refs = Refs::parse(listing);
        assert_eq!(refs.head.as_deref(), Some("refs/heads/main"));
        assert_eq!(refs.branch("dev"), Some("bbbb"));
        assert_eq!(refs.branches[0].0, "dev", "sorted");
        assert_eq!(refs.tag("v1"), Some("aaaa"), "annotated tag peeled");
        assert_eq!(refs.tag("light"), Some("eeee"));
        assert_eq!(refs.other("HEAD"), Some("aaaa"));
        assert_eq!(refs.other("refs/pull/1/head"), Some("cccc"));
    }
}
