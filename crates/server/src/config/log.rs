//! `--logformat` and `--loglevel`, parsed once at start.

use std::str::FromStr;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line with logrus' field names (upstream's default).
    Json,
    /// Human-readable lines.
    Text,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err(()),
        }
    }
}

/// The least severe level written; logrus' names, case-insensitive (`warning` = `warn`;
/// `fatal` and `panic`, which upstream also accepts, write errors only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The name `tracing`'s filters use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl FromStr for LogLevel {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value.to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" | "warning" => Ok(Self::Warn),
            "error" | "fatal" | "panic" => Ok(Self::Error),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_logrus_spells_them() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert_eq!("JSON".parse::<LogFormat>(), Err(()));
        assert_eq!("WARNING".parse(), Ok(LogLevel::Warn));
        assert_eq!("Debug".parse(), Ok(LogLevel::Debug));
        assert_eq!("fatal".parse(), Ok(LogLevel::Error));
        assert_eq!("verbose".parse::<LogLevel>(), Err(()));
        assert_eq!(LogLevel::Warn.as_str(), "warn");
    }
}
