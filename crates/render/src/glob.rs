//! Upstream's three glob dialects, each on globset after rewriting the pattern:
//! - [`loose`]: gobwas/glob without separators (upstream's `util/glob.Match`, used for
//!   directory `include`/`exclude`): `*` and `**` both match any text, `/` included, so
//!   `**/*.yaml` needs a `/`; `{a,b}` alternates.
//! - [`Pathspec`]: git's pathspec as `git ls-files -- <pattern>` reads it (legacy GetGitFiles):
//!   without wildcards a path or a leading directory; with them a wildmatch where `*` crosses
//!   `/` and `**` is no different, so `p1/**/config.json` does not match `p1/config.json`;
//!   braces are literal.
//! - [`strict`]: doublestar (new GetGitFiles globbing): `*` stays within a segment, `**/`
//!   spans zero or more directories.
//! - [`filepath`]: Go's `filepath.Match` (the plugin tar stream's `--plugin-tar-exclude`): `*`
//!   and `?` stay within a segment, `**` is `*`, braces are literal.

use globset::{GlobBuilder, GlobMatcher};

use crate::Error;

/// gobwas/glob without separators.
pub(crate) fn loose(pattern: &str) -> Result<GlobMatcher, Error> {
    build(&rewrite(pattern, false), false, pattern)
}

/// doublestar.
pub(crate) fn strict(pattern: &str) -> Result<GlobMatcher, Error> {
    build(pattern, true, pattern)
}

/// Go's `filepath.Match`.
pub fn filepath(pattern: &str) -> Result<GlobMatcher, Error> {
    build(&rewrite(pattern, true), true, pattern)
}

/// A git pathspec without magic.
pub(crate) enum Pathspec {
    /// `.` or empty: everything.
    All,
    /// No wildcard: this path, or everything below it.
    Path(String),
    Wild(GlobMatcher),
}

impl Pathspec {
    pub(crate) fn new(pattern: &str) -> Result<Self, Error> {
        let mut p = pattern;
        while let Some(rest) = p.strip_prefix("./") {
            p = rest;
        }
        if p.is_empty() || p == "." {
            return Ok(Self::All);
        }
        if !p.contains(['*', '?', '[', '\\']) {
            return Ok(Self::Path(p.to_string()));
        }
        Ok(Self::Wild(build(&rewrite(p, true), false, pattern)?))
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Self::All => true,
            Self::Path(p) if p.ends_with('/') => path.starts_with(p.as_str()),
            Self::Path(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            Self::Wild(glob) => glob.is_match(path),
        }
    }
}

fn build(pattern: &str, separator: bool, shown: &str) -> Result<GlobMatcher, Error> {
    GlobBuilder::new(pattern)
        .literal_separator(separator)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::InvalidArgument(format!("pattern {shown:?}: {e}")))
}

/// Runs of `*` become one `*` (globset gives `**` its directory meaning; these dialects do
/// not); with `literal_braces`, `{`, `}` and `,` are escaped. Classes and escapes are kept.
fn rewrite(pattern: &str, literal_braces: bool) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' => {
                // A class runs to the first `]` after its first member.
                out.push(c);
                let mut first = true;
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' && !first {
                        break;
                    }
                    first = matches!(d, '!' | '^') && first;
                }
            }
            '*' => {
                out.push('*');
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
            }
            '{' | '}' | ',' if literal_braces => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_is_gobwas_without_separators() {
        let m = |p: &str, s: &str| loose(p).unwrap().is_match(s);
        // Upstream's TestFindResources.
        assert!(m("**/*.yaml", "subdir/deploymentSub.yaml"));
        assert!(!m("**/*.yaml", "deployment.yaml"));
        assert!(m("*.yaml", "deployment.yaml") && m("*.yaml", "subdir/deploymentSub.yaml"));
        assert!(m("subdir/deploymentSub.yaml", "subdir/deploymentSub.yaml"));
        assert!(m("{*.yaml.sealed,*.yaml}", "my-secret.yaml.sealed"));
        assert!(m("a?c", "a/c") && m("[!x]*", "y/z") && m("a\\*", "a*") && !m("a\\*", "ab"));
        assert!(m("[*]x", "*x") && !m("[*]x", "ax"));
        assert!(loose("a[").is_err());
    }

    #[test]
    fn pathspec_is_git_wildmatch_without_pathname() {
        let m = |p: &str, s: &str| Pathspec::new(p).unwrap().matches(s);
        assert!(!m("p1/**/config.json", "p1/config.json"));
        assert!(m("p1/**/config.json", "p1/p2/config.json"));
        assert!(m("p1/**/config.json", "p1/a/b/config.json"));
        assert!(m("**/config.json", "p1/config.json") && !m("**/config.json", "config.json"));
        assert!(m("*.json", "a/b.json") && m("some-path/*.yaml", "some-path/sub/b.yaml"));
        assert!(m("p1", "p1/config.json") && m("p1", "p1") && !m("p1", "p10/x"));
        assert!(m("p1/", "p1/x") && m("./p1", "p1/x") && m("", "x") && m(".", "a/b"));
        assert!(m("x{a,b}.json", "x{a,b}.json") && !m("x{a,b}.json", "xa.json"));
        assert!(m("x{a,b}*", "x{a,b}.json") && !m("x{a,b}*", "xa.json"));
        assert!(m("p?/config.json", "p1/config.json") && m("[cp]*/c", "c/x/c"));
    }

    #[test]
    fn filepath_is_go_filepath_match() {
        let m = |p: &str, s: &str| filepath(p).unwrap().is_match(s);
        assert!(m("dum*", "dummy") && !m("dum*", "dummy/DUMMY2.md"));
        assert!(m("*.md", "README.md") && !m("*.md", "a/README.md"));
        assert!(m("a/*/c", "a/b/c") && !m("a/**/c", "a/b/b/c") && m("a/**", "a/b"));
        assert!(!m("a?c", "a/c") && m("a?c", "abc"));
        assert!(m("[^x]*", "y") && m("[!x]*", "y") && !m("[^x]*", "x"));
        assert!(m("x{a,b}", "x{a,b}") && m("a\\*", "a*") && !m("a\\*", "ab"));
        assert!(filepath("a[").is_err());
    }

    #[test]
    fn strict_is_doublestar() {
        let m = |p: &str, s: &str| strict(p).unwrap().is_match(s);
        assert!(m("p1/**/config.json", "p1/config.json"));
        assert!(m("**/config.json", "config.json") && m("**/config.json", ".a/config.json"));
        assert!(!m("some-path/*.yaml", "some-path/sub/b.yaml"));
        assert!(m("{a,b}.json", "b.json"));
    }
}
