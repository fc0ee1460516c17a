//! Settings lookup with Argo CD's rules: a flag given on the command line wins; otherwise an
//! environment variable that is set *and non-empty*; otherwise the built-in default. Manifests
//! inject every `argocd-cmd-params-cm` key as an optional env var, so `""` must mean "default".
//!
//! Lookups go through [`Env`], so configuration parsing is tested without touching the process
//! environment.
#![forbid(unsafe_code)]

use std::collections::HashMap;

/// A source of environment variables.
pub trait Env {
    /// The raw value of `key`, if set.
    fn raw(&self, key: &str) -> Option<String>;

    /// The value of `key` if it is set and not empty (upstream's `StringFromEnv`).
    fn get(&self, key: &str) -> Option<String> {
        self.raw(key).filter(|v| !v.is_empty())
    }

    /// A boolean in Go's `strconv.ParseBool` syntax; unparsable values fall back to `None`
    /// (upstream's `ParseBoolFromEnv` returns the default on a parse failure).
    fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| parse_bool(&v))
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Process;

impl Env for Process {
    fn raw(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// A fixed set of variables, for tests and for embedding.
#[derive(Debug, Clone, Default)]
pub struct Map(pub HashMap<String, String>);

impl Map {
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Env for Map {
    fn raw(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Resolves one string setting: flag, else non-empty env var, else default.
pub fn string(flag: Option<String>, env: &dyn Env, key: &str, default: &str) -> String {
    flag.or_else(|| env.get(key))
        .unwrap_or_else(|| default.to_string())
}

/// Resolves one boolean setting: flag, else parsable env var, else default.
pub fn boolean(flag: Option<bool>, env: &dyn Env, key: &str, default: bool) -> bool {
    flag.or_else(|| env.bool(key)).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_env_means_default() {
        let env = Map::new([("A", ""), ("B", "x")]);
        assert_eq!(string(None, &env, "A", "def"), "def");
        assert_eq!(string(None, &env, "B", "def"), "x");
        assert_eq!(
            string(Some(String::new()), &env, "B", "def"),
            "",
            "an explicit flag may be empty"
        );
    }

    #[test]
    fn flag_beats_env() {
        let env = Map::new([("A", "env")]);
        assert_eq!(string(Some("flag".into()), &env, "A", "def"), "flag");
        assert!(!boolean(Some(false), &Map::new([("T", "true")]), "T", true));
    }

    #[test]
    fn bools_follow_go_syntax_and_fall_back_on_garbage() {
        let env = Map::new([("T", "T"), ("F", "0"), ("G", "yes")]);
        assert!(boolean(None, &env, "T", false));
        assert!(!boolean(None, &env, "F", true));
        assert!(boolean(None, &env, "G", true));
        assert!(!boolean(None, &env, "G", false));
    }
}
