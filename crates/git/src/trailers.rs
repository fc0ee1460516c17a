//! `Argocd-reference-commit-*` commit trailers: the commit a hydrated commit was made from, as
//! upstream's `util/git` GetReferences reads them. A trailer whose value fails its check is
//! skipped (upstream logs and skips it); a later trailer of one key replaces an earlier one.

use std::fmt::Write;

/// What the trailers say about a related commit (upstream's `CommitMetadata`). Empty fields
/// were absent or invalid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reference {
    /// `"Name" <address>`, formatted as Go's `mail.Address.String`.
    pub author: String,
    /// RFC 3339 without fractional seconds, `Z` for UTC.
    pub date: String,
    pub subject: String,
    /// The JSON string value of the body trailer, decoded.
    pub body: String,
    /// 5 to 40 lowercase hex digits.
    pub sha: String,
    /// Checked only to parse as a URL, as upstream: do not build links from it unchecked.
    pub repo_url: String,
}

/// The reference in `trailers` (git's `%(trailers:only,unfold)`: one `Key: value` a line),
/// or `None` when no valid `Argocd-reference-commit-*` trailer is present.
pub(crate) fn parse(trailers: &str) -> Option<Reference> {
    let mut found = Reference::default();
    for line in trailers.lines() {
        let Some(rest) = line.strip_prefix("Argocd-reference-commit-") else {
            continue;
        };
        let Some((key, value)) = rest.split_once(": ") else {
            continue;
        };
        match key {
            "repourl" if is_url(value) => found.repo_url = value.to_string(),
            "author" => {
                if let Some(author) = address(value) {
                    found.author = author;
                }
            }
            "date" => {
                if let Some(date) = rfc3339(value) {
                    found.date = date;
                }
            }
            "subject" => found.subject = value.to_string(),
            "body" => {
                if let Ok(body) = serde_json::from_str::<String>(value) {
                    found.body = body;
                }
            }
            "sha" if is_sha(value) => found.sha = value.to_string(),
            _ => {}
        }
    }
    (found != Reference::default()).then_some(found)
}

fn is_sha(value: &str) -> bool {
    (5..=40).contains(&value.len())
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What Go's `url.Parse` refuses: control characters, a missing scheme before `:`, a colon in
/// the first segment of a scheme-less URL (`git@host:org/repo`), bad escapes outside the query.
fn is_url(value: &str) -> bool {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) || value.starts_with(':') {
        return false;
    }
    let scheme = value.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !scheme
        && value
            .split(['/', '?', '#'])
            .next()
            .is_some_and(|first| first.contains(':'))
    {
        return false;
    }
    let (before, fragment) = value.split_once('#').unwrap_or((value, ""));
    let path = before.split_once('?').map_or(before, |(p, _)| p);
    let authority_ok = match path.split_once("://") {
        Some((_, rest)) if scheme => host_ok(rest.split('/').next().unwrap_or_default()),
        _ => true,
    };
    authority_ok && escapes_ok(path) && escapes_ok(fragment)
}

/// Go's host check: after any userinfo, a bracketed IP literal or host characters, then an
/// optional all-digit port.
fn host_ok(authority: &str) -> bool {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((_, after)) => ("", after),
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, port),
            None => (host, ""),
        },
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None if host.starts_with('[') => port.is_empty(),
        None => port.bytes().all(|b| b.is_ascii_digit()),
    };
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || "-_.~!$&'()*+,;=[]<>\"%".contains(c) || !c.is_ascii()
    };
    port_ok && name.chars().all(allowed) && escapes_ok(name)
}

fn escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Go's `time.Parse(time.RFC3339, v)` then `Format(time.RFC3339)`: fractional seconds are
/// accepted and dropped, a zero offset becomes `Z`.
fn rfc3339(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = v.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &v[19..];
    if let Some(fraction) = rest.strip_prefix(['.', ',']) {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &fraction[n..];
    }
    let zone = match rest {
        "Z" => "Z".to_string(),
        _ => {
            let z = rest.as_bytes();
            if z.len() != 6 || !matches!(z[0], b'+' | b'-') || z[3] != b':' {
                return None;
            }
            let (h, m) = (
                rest[1..3].parse::<u32>().ok()?,
                rest[4..6].parse::<u32>().ok()?,
            );
            if !rest[1..3]
                .bytes()
                .chain(rest[4..6].bytes())
                .all(|c| c.is_ascii_digit())
                || h > 23
                || m > 59
            {
                return None;
            }
            if h == 0 && m == 0 {
                "Z".to_string()
            } else {
                rest.to_string()
            }
        }
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{zone}"
    ))
}

/// Go's `mail.ParseAddress` (`Name <local@domain>`, `"Quoted" <…>`, `<…>` or a bare
/// `local@domain`) formatted back as `mail.Address.String` does.
fn address(v: &str) -> Option<String> {
    let v = v.trim();
    let (name, spec) = match v.strip_suffix('>').and_then(|s| s.rsplit_once('<')) {
        Some((name, spec)) => (display_name(name.trim())?, spec),
        None => (String::new(), v),
    };
    let (local, domain) = spec.rsplit_once('@')?;
    let dot_atom = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|part| !part.is_empty() && part.chars().all(is_atext))
    };
    if !dot_atom(domain) || !(dot_atom(local) || is_quoted(local)) {
        return None;
    }
    let spec = format!("<{local}@{domain}>");
    if name.is_empty() {
        return Some(spec);
    }
    Some(format!("{} {spec}", encode_name(&name)))
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('"') && s.ends_with('"')
}

/// A display name: a quoted string (unescaped) or words of atom characters and dots.
fn display_name(raw: &str) -> Option<String> {
    if is_quoted(raw) {
        let mut out = String::new();
        let mut chars = raw[1..raw.len() - 1].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return None,
                c => out.push(c),
            }
        }
        return Some(out);
    }
    let ok = raw
        .split_whitespace()
        .all(|word| word.chars().all(|c| is_atext(c) || c == '.'));
    ok.then(|| raw.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `mail.Address.String`'s name: quoted when printable ASCII, else an RFC 2047 encoded word
/// (B when the name holds characters an encoded word must not, else Q).
fn encode_name(name: &str) -> String {
    if name
        .chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        let mut out = String::from("\"");
        for c in name.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        return out;
    }
    if name.contains(|c| "\"#$%&'(),.:;<>@[]^`{|}~".contains(c)) {
        words(
            name,
            45,
            |chunk, out| out.push_str(&base64(chunk.as_bytes())),
            'b',
        )
    } else {
        words(
            name,
            63,
            |chunk, out| {
                for b in chunk.bytes() {
                    match b {
                        b' ' => out.push('_'),
                        b'!'..=b'~' if !matches!(b, b'=' | b'?' | b'_') => out.push(b as char),
                        _ => {
                            let _ = write!(out, "={b:02X}");
                        }
                    }
                }
            },
            'q',
        )
    }
}

/// Encoded words of at most `max` units each (bytes for B, encoded length for Q), split on
/// character boundaries, joined by spaces.
fn words(name: &str, max: usize, encode: impl Fn(&str, &mut String), kind: char) -> String {
    let cost = |c: char| match kind {
        'b' => c.len_utf8(),
        _ if c.is_ascii() && (' '..='~').contains(&c) && !"=?_".contains(c) => 1,
        _ => 3 * c.len_utf8(),
    };
    let mut out = format!("=?utf-8?{kind}?");
    let (mut start, mut used) = (0, 0);
    for (i, c) in name.char_indices() {
        if used + cost(c) > max {
            encode(&name[start..i], &mut out);
            let _ = write!(out, "?= =?utf-8?{kind}?");
            (start, used) = (i, 0);
        }
        used += cost(c);
    }
    encode(&name[start..], &mut out);
    out.push_str("?=");
    out
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let v = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(TABLE[(v >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Upstream's Test_GetReferences cases, as git's trailer output.
    #[test]
    fn no_or_invalid_trailers_give_no_reference() {
        assert_eq!(parse("This is a commit message without trailers."), None);
        let invalid = "Argocd-reference-commit-repourl: % invalid %\n\
            Argocd-reference-commit-date: invalid-date\n\
            Argocd-reference-commit-sha: xyz123\n\
            Argocd-reference-commit-body: this isn't json\n\
            Argocd-reference-commit-author: % not email %\n\
            Argocd-reference-commit-bogus:";
        assert_eq!(parse(invalid), None);
        assert_eq!(parse("Argocd-reference-commit-unknown: foobar"), None);
    }

    #[test]
    fn valid_trailers_fill_the_reference() {
        let some = "Argocd-reference-commit-sha: abc123\n\
            Argocd-reference-commit-repourl: % invalid %\n\
            Argocd-reference-commit-date: invalid-date";
        let sha_only = Reference {
            sha: "abc123".into(),
            ..Default::default()
        };
        assert_eq!(parse(some), Some(sha_only));
        let valid = "Argocd-reference-commit-repourl: https://github.com/org/repo.git\n\
            Argocd-reference-commit-author: John Doe <john.doe@example.com>\n\
            Argocd-reference-commit-date: 2024-02-29T23:59:59-07:00\n\
            Argocd-reference-commit-subject: Fix bug\n\
            Argocd-reference-commit-body: \"Fix bug\\n\\nSome: trailer\"\n\
            Argocd-reference-commit-sha: abc123";
        assert_eq!(
            parse(valid),
            Some(Reference {
                author: "\"John Doe\" <john.doe@example.com>".into(),
                date: "2024-02-29T23:59:59-07:00".into(),
                subject: "Fix bug".into(),
                body: "Fix bug\n\nSome: trailer".into(),
                sha: "abc123".into(),
                repo_url: "https://github.com/org/repo.git".into(),
            })
        );
        let twice = "Argocd-reference-commit-repourl: https://github.com/org/repo.git\n\
            Argocd-reference-commit-repourl: https://github.com/another/repo.git";
        assert_eq!(
            parse(twice).unwrap().repo_url,
            "https://github.com/another/repo.git"
        );
    }

    #[test]
    fn dates_as_go_formats_them() {
        assert_eq!(
            rfc3339("2024-05-01T10:20:30Z").unwrap(),
            "2024-05-01T10:20:30Z"
        );
        assert_eq!(
            rfc3339("2024-05-01T10:20:30.123+00:00").unwrap(),
            "2024-05-01T10:20:30Z"
        );
        assert_eq!(
            rfc3339("2024-05-01T10:20:30+02:00").unwrap(),
            "2024-05-01T10:20:30+02:00"
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01 10:20:30Z",
            "2024-05-01T10:20:30",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:20:30.Z",
            "2024-05-01T10:20:30+0200",
        ] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn addresses_as_go_formats_them() {
        let a = |v: &str| address(v);
        assert_eq!(a("<a@b.c>").unwrap(), "<a@b.c>");
        assert_eq!(a("a@b.c").unwrap(), "<a@b.c>");
        assert_eq!(
            a("\"Doe, John\" <j@x.org>").unwrap(),
            "\"Doe, John\" <j@x.org>"
        );
        assert_eq!(
            a("Jöhn <j@x.org>").unwrap(),
            "=?utf-8?q?J=C3=B6hn?= <j@x.org>"
        );
        assert_eq!(a("Jöhn Dœ, Jr <j@x.org>"), None);
        assert_eq!(
            a("\"Jö, Jr\" <j@x.org>").unwrap(),
            "=?utf-8?b?SsO2LCBKcg==?= <j@x.org>"
        );
        for bad in ["% not email %", "John <>", "<@b>", "a@", "John <a b@c>"] {
            assert_eq!(a(bad), None, "{bad}");
        }
    }

    #[test]
    fn urls_and_shas() {
        assert!(is_url("https://github.com/org/repo.git"));
        assert!(
            !is_url("git@github.com:org/repo.git"),
            "Go: colon in first path segment"
        );
        assert!(is_url("ssh://git@github.com/org/repo.git"));
        assert!(is_url("https://x/a?q=%zz"));
        assert!(!is_url("% invalid %"));
        assert!(!is_url("https://x/a%2"));
        assert!(!is_url("https://x/\u{7f}"));
        assert!(is_url("https://user:pw@host:8443/a b") && is_url("https://[::1]:80/x"));
        assert!(!is_url("https://host:abc/x") && !is_url("https://a b/x"));
        assert!(!is_url("https://[::1/x") && !is_url("https://h{x}/"));
        assert!(is_sha("abc12") && is_sha(&"a".repeat(40)));
        assert!(!is_sha("abc1") && !is_sha("ABC123") && !is_sha(&"a".repeat(41)));
    }
}
