//! Property tests of the authorization policy parser: any text is parsed or refused without
//! panicking, and a refused rule is named by the line it is on.

use std::path::Path;

use proptest::prelude::*;
use repo_identity::{Policy, PolicyError, RPCS};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    }
}

/// What is wrong with a rule, if anything.
#[derive(Clone, Debug)]
enum Defect {
    None,
    NoIdentity,
    BlankIdentity,
    NoMethod,
    UnknownMethod,
    BadPath,
}

fn defect() -> impl Strategy<Value = Defect> {
    prop_oneof![
        4 => Just(Defect::None),
        1 => Just(Defect::NoIdentity),
        1 => Just(Defect::BlankIdentity),
        1 => Just(Defect::NoMethod),
        1 => Just(Defect::UnknownMethod),
        1 => Just(Defect::BadPath),
    ]
}

/// A block-style policy of rules with the given defects, and the 1-based line of the first
/// defect (0 if none). Valid rules repeat the names a defect uses, so a line found by
/// searching the text for them is wrong.
fn policy(defects: &[Defect], method: usize) -> (String, usize) {
    let mut text = String::from("# policy\nrules:\n");
    let mut first = 0;
    for (i, d) in defects.iter().enumerate() {
        let rpc = RPCS[(method + i) % RPCS.len()];
        let (identities, methods) = match d {
            Defect::None => (
                "[argocd-server, Nope, \"/x\"]".to_string(),
                format!("[{rpc}, \"*\"]"),
            ),
            Defect::NoIdentity => ("[]".to_string(), format!("[{rpc}]")),
            Defect::BlankIdentity => ("[a, \" \"]".to_string(), format!("[{rpc}]")),
            Defect::NoMethod => ("[a]".to_string(), "[]".to_string()),
            Defect::UnknownMethod => ("[a]".to_string(), format!("[{rpc}, Nope]")),
            Defect::BadPath => ("[a]".to_string(), "[\"/x\"]".to_string()),
        };
        let identities_line = text.lines().count() + 1;
        text.push_str(&format!(
            "  - identities: {identities}\n    methods: {methods}\n"
        ));
        if first == 0 {
            first = match d {
                Defect::None => 0,
                Defect::NoIdentity | Defect::BlankIdentity => identities_line,
                _ => identities_line + 1,
            };
        }
    }
    (text, first)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn never_panics(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text, Path::new("p"));
    }

    #[test]
    fn never_panics_on_policy_shapes(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("rules:"), Just("\n"), Just("  - "), Just("identities: "), Just("methods: "),
                Just("["), Just("]"), Just("{"), Just("}"), Just(", "), Just("\"*\""), Just("*"),
                Just("&a "), Just("*a"), Just("!!str "), Just("~"), Just("'"), Just("GetGitFiles"),
                Just("/a/b"), Just("<<: "), Just("---\n"), Just("    "),
            ],
            0..40,
        )
    ) {
        let text = parts.concat();
        match Policy::parse(&text, Path::new("p")) {
            Err(PolicyError::Syntax { detail, .. }) => {
                prop_assert!(detail.contains("line"), "{detail}\n{text}")
            }
            Err(PolicyError::Rule { line, .. }) => prop_assert!(line > 0, "{text}"),
            _ => {}
        }
    }

    #[test]
    fn refused_rules_name_their_line(
        defects in proptest::collection::vec(defect(), 1..6),
        method in 0usize..RPCS.len(),
    ) {
        let (text, line) = policy(&defects, method);
        match Policy::parse(&text, Path::new("p")) {
            Ok(_) => prop_assert_eq!(line, 0, "accepted:\n{}", text),
            Err(PolicyError::Rule { line: named, .. }) => {
                prop_assert_eq!(named, line, "\n{}", text)
            }
            Err(other) => prop_assert!(false, "{other}\n{text}"),
        }
    }
}
