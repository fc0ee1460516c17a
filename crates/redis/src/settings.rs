//! What the client connects to and how it names and encodes entries (upstream's `--redis*`
//! flags and `REDIS_*` variables, already parsed by the caller).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Connection and naming settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Server,
    /// `--redisdb`.
    pub db: u32,
    /// `REDIS_USERNAME` (ACL user).
    pub username: Option<String>,
    /// `REDIS_PASSWORD`.
    pub password: Option<Secret>,
    /// `REDIS_SENTINEL_USERNAME`.
    pub sentinel_username: Option<String>,
    /// `REDIS_SENTINEL_PASSWORD`.
    pub sentinel_password: Option<Secret>,
    /// `--redis-use-tls` and its certificate flags; `None` is plain TCP.
    pub tls: Option<Tls>,
    /// `--redis-compress`.
    pub compression: Compression,
    /// `ARGOCD_REDIS_KEY_PREFIX`, put before every entry name.
    pub prefix: String,
    /// The longest one operation may take, from call to answer.
    pub timeout: Duration,
}

/// Where Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// `--redis host:port`.
    Single { host: String, port: u16 },
    /// `--sentinel host:port` (repeated) and `--sentinelmaster`.
    Sentinel {
        master: String,
        hosts: Vec<(String, u16)>,
    },
}

/// TLS to Redis (and to the sentinels, as upstream).
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// `--redis-ca-certificate`; `None` trusts the system's CAs.
    pub ca: Option<PathBuf>,
    /// `--redis-client-certificate` and `--redis-client-key`.
    pub client: Option<(PathBuf, PathBuf)>,
    /// `--redis-insecure-skip-tls-verify`.
    pub insecure_skip_verify: bool,
}

/// How values are stored (`--redis-compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip, with `.gz` appended to the entry name (upstream's default).
    #[default]
    Gzip,
    /// Stored as given.
    None,
}

impl std::str::FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gzip" => Ok(Self::Gzip),
            "none" => Ok(Self::None),
            other => Err(format!(
                "unknown redis compression {other:?}: use gzip or none"
            )),
        }
    }
}

/// A credential: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        let settings = Settings {
            server: Server::Single {
                host: "h".into(),
                port: 1,
            },
            db: 0,
            username: None,
            password: Some(s.clone()),
            sentinel_username: None,
            sentinel_password: Some(s),
            tls: None,
            compression: Compression::Gzip,
            prefix: String::new(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn compression_parses_upstream_values() {
        assert_eq!("gzip".parse(), Ok(Compression::Gzip));
        assert_eq!("none".parse(), Ok(Compression::None));
        assert!("zstd"
            .parse::<Compression>()
            .unwrap_err()
            .contains("gzip or none"));
    }
}
