//! Property tests of the request values parsed from untrusted input: repository URLs,
//! revisions and repository paths. Bounded case counts keep them in the normal `cargo test`.

use proptest::prelude::*;
use repo_source::{display, normalize, Invalid, Remote, RepoPath, Revision};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    }
}

/// Characters RFC 3986 allows in userinfo, `:` aside (it ends the username).
const USERINFO: &str = "[a-zA-Z0-9._~!$&'()*+,;=%-]{1,12}";

/// Scheme spellings a request may carry, the refused ones too.
fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("http".to_string()),
        Just("https".to_string()),
        Just("HTTPS".to_string()),
        Just("ssh".to_string()),
        Just("git+ssh".to_string()),
        Just("git".to_string()),
        Just("file".to_string()),
        "[a-z][a-z0-9+.-]{0,6}",
    ]
}

/// A URL with a password, and the password. Host and path are lower case and the password
/// starts with `Z`, so finding the password in an output means it leaked.
fn url_with_password() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            Just(String::new()),
            Just("-".to_string()),
            Just("ext::".to_string())
        ],
        scheme(),
        "[a-z0-9]{0,8}",
        USERINFO,
        "[a-z0-9.-]{0,10}(:[0-9]{1,5})?",
        "(/[a-z0-9._~-]{0,8}){0,3}",
        prop_oneof![
            Just(String::new()),
            Just("\n".to_string()),
            Just(" x".to_string())
        ],
    )
        .prop_map(|(prefix, scheme, user, secret, host, path, suffix)| {
            let password = format!("Z{secret}");
            let url = format!("{prefix}{scheme}://{user}:{password}@{host}{path}{suffix}");
            (url, password)
        })
}

/// One `.git` suffix and trailing slashes are dropped, as upstream: `r.git.git` keys as
/// `r.git`, which a server may serve as a repository other than `r`, so it is not generated.
const SUFFIX: &str = "(\\.git)?/?";

/// Repository URLs in the forms a request may use: scheme URLs, scp-like and local paths.
fn repository_url() -> impl Strategy<Value = String> {
    let segment = "[a-zA-Z0-9._@-]{1,8}";
    let path = proptest::collection::vec(segment, 0..4).prop_map(|s| s.join("/"));
    prop_oneof![
        (
            scheme(),
            "([a-z]{1,5}(:[a-z]{1,5})?@)?",
            "[a-zA-Z0-9.-]{1,10}(:[0-9]{1,4})?",
            path.clone(),
            SUFFIX
        )
            .prop_map(|(s, u, h, p, t)| format!("{s}://{u}{h}/{p}{t}")),
        (
            "([a-z]{1,5}@)?",
            "[a-zA-Z0-9.-]{1,10}",
            "/?",
            path.clone(),
            SUFFIX
        )
            .prop_map(|(u, h, slash, p, t)| format!("{u}{h}:{slash}{p}{t}")),
        (path, SUFFIX).prop_map(|(p, t)| format!("/{p}{t}")),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsing_never_panics(raw in "\\PC{0,64}", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Remote::parse(&raw);
        let _ = display(&raw);
        let _ = normalize(&raw);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = Remote::parse(&lossy);
        let _ = display(&lossy);
        let _ = normalize(&lossy);
    }

    /// What git receives, what messages show and what errors say never carry the password,
    /// whether or not the URL is accepted.
    #[test]
    fn passwords_never_shown((url, password) in url_with_password()) {
        prop_assert!(!display(&url).contains(&password), "display({url:?})");
        match Remote::parse(&url) {
            Ok(remote) => {
                prop_assert!(!remote.url.contains(&password), "{url:?} -> {:?}", remote.url);
                prop_assert!(!remote.key.contains(&password), "{url:?} -> key {:?}", remote.key);
                prop_assert!(!format!("{remote:?}").contains(&password), "{url:?}");
            }
            Err(err) => prop_assert!(!err.to_string().contains(&password), "{url:?}: {err}"),
        }
    }

    #[test]
    fn normalize_is_idempotent(url in repository_url()) {
        let once = normalize(&url);
        prop_assert_eq!(&normalize(&once), &once, "{:?}", url);
        if let Ok(remote) = Remote::parse(&url) {
            prop_assert_eq!(&remote.key, &once);
        }
    }

    /// Remote helpers (`ext::` runs a command, `fd::` a descriptor) and option-like URLs are
    /// refused whatever follows them.
    #[test]
    fn helpers_and_options_refused(
        head in prop_oneof![Just("ext::"), Just("fd::"), Just("EXT::"), Just("-"), Just("--upload-pack=")],
        rest in "\\PC{0,32}",
    ) {
        let url = format!("{head}{rest}");
        prop_assert!(Remote::parse(&url).is_err(), "{url:?}");
        prop_assert!(Remote::parse(&format!("  {url}")).is_err(), "{url:?}");
    }

    #[test]
    fn any_helper_transport_refused(helper in "[a-zA-Z][a-zA-Z0-9+.-]{0,8}", rest in "\\PC{0,32}") {
        let url = format!("{helper}::{rest}");
        prop_assert!(Remote::parse(&url).is_err(), "{url:?}");
    }

    #[test]
    fn revisions_refuse_options_and_control_chars(
        before in "\\PC{0,16}",
        control in prop::char::ranges(vec!['\0'..='\u{1f}', '\u{7f}'..='\u{9f}'].into()),
        after in "\\PC{0,16}",
    ) {
        let with_control = format!("{before}{control}{after}");
        prop_assert!(Revision::new(&with_control).is_err(), "{with_control:?}");
        let option = format!("-{before}");
        prop_assert!(
            matches!(Revision::new(&option), Err(Invalid::Option { .. })),
            "{option:?}"
        );
    }

    #[test]
    fn accepted_revisions_are_safe(raw in "\\PC{0,32}") {
        if let Ok(revision) = Revision::new(&raw) {
            let s = revision.as_str();
            prop_assert!(!s.starts_with('-') && !s.chars().any(char::is_control), "{raw:?}");
            prop_assert!(!s.is_empty());
        }
    }

    /// Whatever a request names, an accepted path is relative with no `..`, and so is
    /// everything joined onto it.
    #[test]
    fn paths_stay_inside_by_text(
        raw in path_text(),
        rel in path_text(),
    ) {
        if let Ok(path) = RepoPath::new(&raw) {
            confined(&path)?;
            prop_assert_eq!(RepoPath::new(path.as_str()), Ok(path.clone()), "{:?}", raw);
            if let Ok(joined) = path.join(&rel) {
                confined(&joined)?;
            }
        }
    }
}

/// Path-like text: separators, dots and `..` in any order, with a few odd characters.
fn path_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("/"),
            Just(".."),
            Just("."),
            Just("a"),
            Just("b.yaml"),
            Just("-"),
            Just("\\"),
            Just("\0"),
            Just("~"),
            Just("//"),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn confined(path: &RepoPath) -> Result<(), TestCaseError> {
    let p = std::path::Path::new(path.as_str());
    prop_assert!(!p.is_absolute(), "{path:?}");
    prop_assert!(
        p.components().all(|c| matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )),
        "{path:?}"
    );
    prop_assert!(!path.as_str().contains('\0'), "{path:?}");
    Ok(())
}

/// The smallest inputs the properties above found, kept as plain cases.
#[test]
fn found_by_the_properties() {
    // The option rule's message repeated the whole URL, password included.
    let err = Remote::parse("-http://:Zpw@host/r")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("Zpw"), "{err}");
    // `'` is a userinfo character, so it does not end the part that is removed.
    assert!(!display("-http://:Z'pw@host/r").contains("Z'pw"));
    // `host:` keyed as `ssh://host/`, whose own key is `ssh://host`.
    assert_eq!(normalize("A:"), "ssh://a");
    // `./-C` normalized to the option-like `-C`.
    assert!(matches!(
        RepoPath::new(".//-C"),
        Err(Invalid::Option { .. })
    ));
    assert!(matches!(
        RepoPath::new("a").unwrap().join("../-C"),
        Err(Invalid::Option { .. })
    ));
}
