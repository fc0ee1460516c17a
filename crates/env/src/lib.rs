//! Settings lookup with Argo CD's rules: a flag given on the command line wins; otherwise an
//! environment variable that is set *and non-empty*; otherwise the built-in default. Manifests
//! inject every `argocd-cmd-params-cm` key as an optional env var, so `""` must mean "default".
//!
//! Lookups go through [`Env`], so configuration parsing is tested without touching the process
//! environment.
#![forbid(unsafe_code)]

use std::collections::HashMap;

mod quantity;

pub use quantity::parse_quantity;

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

/// Go's `time.ParseDuration` syntax: a sequence of decimal numbers with units `ns`, `us`/`µs`,
/// `ms`, `s`, `m`, `h` (e.g. `30m`, `1h30m`, `1.5s`); `0` alone is zero.
pub fn parse_duration(value: &str) -> Option<std::time::Duration> {
    if value == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut rest = value;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// A duration from the environment, as upstream's `env.ParseDurationFromEnv` reads it: Go's
/// syntax, or else a whole number of `s`, `m`, `h` or `d` (days; argoproj/pkg's fallback,
/// e.g. `7d`). Command-line flags take Go's syntax only.
pub fn parse_env_duration(value: &str) -> Option<std::time::Duration> {
    parse_duration(value).or_else(|| {
        let days = value
            .strip_suffix('d')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?;
        let days: u64 = days.parse().ok()?;
        Some(std::time::Duration::from_secs(days.checked_mul(86_400)?))
    })
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
    fn durations_follow_go_syntax() {
        use std::time::Duration;
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "10", "5x", "m", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn env_durations_also_take_days() {
        use std::time::Duration;
        assert_eq!(
            parse_env_duration("7d"),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(parse_env_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("7d"), None, "flags take Go's syntax only");
        for bad in ["d", "1.5d", "-1d", "+1d", "1dd"] {
            assert_eq!(parse_env_duration(bad), None, "{bad}");
        }
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
