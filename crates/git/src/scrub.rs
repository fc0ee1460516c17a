//! Redaction of text that leaves the engine (errors, logs): git may echo a URL or a header.

use repo_source::userinfo;

const MASK: &str = "***";

/// `text` with every occurrence of each secret masked and userinfo removed from URLs.
pub(crate) fn text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    // Longest first, so that a secret containing another is masked whole.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        out = out.replace(secret.as_str(), MASK);
    }
    userinfo(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_userinfo() {
        let secrets = vec!["hunter2".to_string(), String::new()];
        assert_eq!(
            text(
                "fatal: Authentication failed for 'https://bob:hunter2@h/r' (hunter2)",
                &secrets
            ),
            "fatal: Authentication failed for 'https://h/r' (***)"
        );
        assert_eq!(
            userinfo("see http://a@b and git://c/d"),
            "see http://b and git://c/d"
        );
    }
}
