//! Property tests of the semver constraints a request's revision may carry.

use proptest::prelude::*;
use semver::Version;

use super::version;
use super::Constraint;

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    }
}

/// A semver version with an optional prerelease and build, as tags spell them.
fn version_text() -> impl Strategy<Value = String> {
    (
        "v?",
        0u64..1000,
        0u64..1000,
        0u64..1000,
        // Numeric identifiers without leading zeros, as semver requires.
        "(-(rc|alpha|beta|0)(\\.([a-z]{1,3}|0|[1-9][0-9]{0,2})){0,2})?",
        "(\\+[0-9a-z]{1,4})?",
    )
        .prop_map(|(v, a, b, c, pre, build)| format!("{v}{a}.{b}.{c}{pre}{build}"))
}

/// Text built from the constraint grammar's own pieces in any order, and arbitrary text.
fn constraint_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("=".to_string()),
        Just("!=".to_string()),
        Just(">=".to_string()),
        Just("=<".to_string()),
        Just("~>".to_string()),
        Just("^".to_string()),
        Just("<".to_string()),
        Just(" - ".to_string()),
        Just("||".to_string()),
        Just(",".to_string()),
        Just(" ".to_string()),
        Just("*".to_string()),
        Just("x".to_string()),
        Just(".".to_string()),
        Just("-0".to_string()),
        Just("+b".to_string()),
        Just("v".to_string()),
        Just("18446744073709551616".to_string()),
        "[0-9]{1,3}",
    ];
    prop_oneof![
        proptest::collection::vec(piece, 0..16).prop_map(|p| p.concat()),
        "\\PC{0,48}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsing_and_matching_never_panic(text in constraint_text(), v in version_text()) {
        if let Some(c) = Constraint::parse(&text) {
            let v = version::parse(&v).expect("generated versions parse");
            let _ = c.matches(&v);
        }
    }

    #[test]
    fn a_version_satisfies_its_own_equality(v in version_text()) {
        let parsed: Version = version::parse(&v).expect("generated versions parse");
        for text in [format!("={v}"), v.clone(), format!(">={v}"), format!("<={v}")] {
            let c = Constraint::parse(&text);
            prop_assert!(c.as_ref().is_some_and(|c| c.matches(&parsed)), "{text} against {v}");
        }
        let c = Constraint::parse(&format!("!={v}")).expect("!= parses");
        prop_assert!(!c.matches(&parsed), "!={v}");
    }
}
