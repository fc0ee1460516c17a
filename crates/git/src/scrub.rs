//! Redaction of text that leaves the engine (errors, logs): git may echo a URL or a header.

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

/// `text` with the `user:password@` part of every `scheme://` URL removed.
pub(crate) fn userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        out.push_str(
            authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host),
        );
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
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
