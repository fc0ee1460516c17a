//! Turning a failed git command into an [`Error`] with a meaningful kind. git runs with
//! `LC_ALL=C`, so its messages can be matched.

use crate::run::Failure;
use crate::Error;

/// Longest detail quoted from git.
const DETAIL_LIMIT: usize = 400;

const UNAUTHENTICATED: &[&str] = &[
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "permission denied (publickey",
    "permission denied, please try again",
    "no supported authentication methods",
    "host key verification failed",
    "returned error: 401",
    "returned error: 403",
];

const NOT_FOUND: &[&str] = &[
    "repository not found",
    "' not found",
    "returned error: 404",
    "does not appear to be a git repository",
    "not exported",
    "no such repository",
];

/// A failed command that talked to the remote.
pub(crate) fn remote(url: &str, op: &'static str, failure: Failure) -> Error {
    let stderr = match failure {
        Failure::Exit(stderr) => stderr,
        other => return local(url, op, other),
    };
    let lower = stderr.to_ascii_lowercase();
    let detail = detail(&stderr);
    if UNAUTHENTICATED.iter().any(|p| lower.contains(p)) {
        return Error::Unauthenticated {
            url: url.into(),
            detail,
        };
    }
    if NOT_FOUND.iter().any(|p| lower.contains(p)) {
        return Error::not_found(url, "repository");
    }
    Error::Unavailable {
        url: url.into(),
        detail,
    }
}

/// A failed command that only read the local mirror.
pub(crate) fn local(url: &str, op: &'static str, failure: Failure) -> Error {
    match failure {
        Failure::Timeout(after) => Error::Timeout {
            url: url.into(),
            op,
            after,
        },
        Failure::Spawn(e) => Error::internal(url, format!("cannot run git {op}: {e}")),
        Failure::Overflow => Error::internal(url, format!("git {op}: output too large")),
        Failure::Exit(stderr) => Error::internal(url, format!("git {op}: {}", detail(&stderr))),
    }
}

/// git's (and ssh's) own explanation, without hints and boilerplate; bounded.
pub(crate) fn detail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:") && !BOILERPLATE.contains(l))
        .map(|l| {
            let l = l
                .strip_prefix("fatal: ")
                .or_else(|| l.strip_prefix("error: "))
                .unwrap_or(l);
            l.trim_end_matches('.')
        })
        .collect();
    let mut detail = lines.join("; ");
    if detail.is_empty() {
        detail = "git failed without a message".into();
    }
    if detail.len() > DETAIL_LIMIT {
        let mut end = DETAIL_LIMIT;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
        detail.push('…');
    }
    detail
}

/// What git adds after every ssh failure.
const BOILERPLATE: &[&str] = &[
    "Please make sure you have the correct access rights",
    "and the repository exists.",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(stderr: &str) -> Error {
        remote("https://h/r", "ls-remote", Failure::Exit(stderr.into()))
    }

    #[test]
    fn classifies_git_messages() {
        assert!(matches!(
            kind("fatal: Authentication failed for 'https://h/r/'"),
            Error::Unauthenticated { .. }
        ));
        assert!(matches!(
            kind("Host key verification failed.\nfatal: Could not read from remote repository."),
            Error::Unauthenticated { .. }
        ));
        assert!(matches!(
            kind("remote: Repository not found.\nfatal: repository 'https://h/r/' not found"),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            kind("fatal: unable to access 'https://h/r/': Could not resolve host: h"),
            Error::Unavailable { .. }
        ));
    }

    #[test]
    fn detail_drops_hints_and_boilerplate() {
        assert_eq!(detail("hint: x\nfatal: boom\n"), "boom");
        assert_eq!(
            detail("Host key verification failed.\r\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n"),
            "Host key verification failed; Could not read from remote repository"
        );
        assert_eq!(detail("ssh: connect refused\n"), "ssh: connect refused");
        assert_eq!(detail("\n"), "git failed without a message");
    }
}
