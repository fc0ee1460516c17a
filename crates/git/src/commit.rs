//! Commit metadata for `GetRevisionMetadata`.

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
}

/// The `git show` format parsed below: author, date, then the raw message.
pub(crate) const FORMAT: &str = "--format=%an <%ae>%n%at%n%B";

impl Commit {
    /// From `git show -s FORMAT` and `git tag --points-at` output.
    pub(crate) fn parse(show: &[u8], tags: &[u8]) -> Option<Self> {
        let show = String::from_utf8_lossy(show);
        let mut lines = show.splitn(3, '\n');
        let author = lines.next()?.to_string();
        let date = lines.next()?.trim().parse().ok()?;
        let message = lines.next().unwrap_or_default().trim().to_string();
        let tags = String::from_utf8_lossy(tags)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        Some(Self {
            author,
            date,
            message,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_show_output() {
        let c = Commit::parse(
            b"A U Thor <a@x>\n1700000000\nsubject\n\nbody\n\n",
            b"v1\nv2\n",
        )
        .unwrap();
        assert_eq!(c.author, "A U Thor <a@x>");
        assert_eq!(c.date, 1_700_000_000);
        assert_eq!(c.message, "subject\n\nbody");
        assert_eq!(c.tags, ["v1", "v2"]);
        assert!(Commit::parse(b"x\nnot a date\n", b"").is_none());
    }
}
