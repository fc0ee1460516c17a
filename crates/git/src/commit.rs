//! Commit metadata for `GetRevisionMetadata`.

use crate::trailers::{self, Reference};

/// What upstream's `RevisionMetadata` reports about a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// `Name <email>` of the author.
    pub author: String,
    /// Author date, Unix seconds.
    pub date: i64,
    /// Full message, trimmed.
    pub message: String,
    /// Tags pointing at the commit (annotated ones through their target), sorted.
    pub tags: Vec<String>,
    /// Related commits from `Argocd-reference-commit-*` trailers (upstream reports one at most).
    pub references: Vec<Reference>,
}

/// The `git show` format parsed below: author, date, the trailers as git's own
/// `interpret-trailers --parse` reads them (upstream runs that on the message), a NUL, then
/// the raw message.
pub(crate) const FORMAT: &str = "--format=%an <%ae>%n%at%n%(trailers:only,unfold)%x00%B";

impl Commit {
    /// From `git show -s FORMAT` and `git tag --points-at` output.
    pub(crate) fn parse(show: &[u8], tags: &[u8]) -> Option<Self> {
        let show = String::from_utf8_lossy(show);
        let mut lines = show.splitn(3, '\n');
        let author = lines.next()?.to_string();
        let date = lines.next()?.trim().parse().ok()?;
        let (trailers, message) = lines.next()?.split_once('\0')?;
        let message = message.trim().to_string();
        let tags = String::from_utf8_lossy(tags)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Some(Self {
            author,
            date,
            message,
            tags,
            references: trailers::parse(trailers).into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_show_output() {
        let c = Commit::parse(
            b"A U Thor <a@x>\n1700000000\n\0subject\n\nbody\n\n",
            b"v1\nv2\n",
        )
        .unwrap();
        assert_eq!(c.author, "A U Thor <a@x>");
        assert_eq!(c.date, 1_700_000_000);
        assert_eq!(c.message, "subject\n\nbody");
        assert_eq!(c.tags, ["v1", "v2"]);
        assert!(c.references.is_empty());
        assert!(Commit::parse(b"x\nnot a date\n\0", b"").is_none());
        assert!(Commit::parse(b"x\n1\nno separator", b"").is_none());
        let c = Commit::parse(
            b"a <a@x>\n1\nArgocd-reference-commit-sha: abc123\n\0s\n\nArgocd-reference-commit-sha: abc123\n",
            b"",
        )
        .unwrap();
        assert_eq!(c.references[0].sha, "abc123");
        assert_eq!(
            c.message, "s\n\nArgocd-reference-commit-sha: abc123",
            "message whole"
        );
    }
}
