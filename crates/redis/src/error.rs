//! Typed, terse errors that name the setting to fix. Never a credential: fred's messages carry
//! none, and ours print only flag and variable names.

use std::time::Duration;

use fred::error::{Error as Fred, ErrorKind};

/// Why a call failed. Callers of a cache treat every one as a miss.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The settings cannot work (a certificate file, the database number); from `Redis::new`.
    #[error("redis settings: {0}")]
    Config(String),
    /// Not connected; the client keeps reconnecting in the background.
    #[error("redis unavailable: {0}")]
    Unavailable(Cause),
    /// No answer within the per-operation timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error (out of memory, read-only replica, ...).
    #[error("redis refused the command: {0}")]
    Refused(String),
    /// The stored value does not decode (not gzip, truncated, bad CRC).
    #[error("corrupt value in redis: {0}")]
    Corrupt(String),
}

/// Why there is no connection (the last connection failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cause {
    #[error("not connected yet")]
    NotConnected,
    #[error("the server rejected the credentials: check REDIS_USERNAME and REDIS_PASSWORD")]
    Auth,
    #[error("no sentinel answered for the master: check --sentinel, --sentinelmaster and REDIS_SENTINEL_USERNAME/REDIS_SENTINEL_PASSWORD ({0})")]
    Sentinel(String),
    #[error("TLS failed: {0} (check --redis-ca-certificate, --redis-client-certificate/--redis-client-key, or the server's TLS port)")]
    Tls(String),
    #[error("{0}")]
    Io(String),
    #[error("too many commands waiting for the connection")]
    Backlog,
}

impl Cause {
    /// Whether this says the connection is gone (rather than refused by policy).
    pub(crate) fn is_lost_connection(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Tls(_) | Self::Sentinel(_))
    }

    /// The connection failure `err` stands for, if it is one.
    pub(crate) fn of(err: &Fred) -> Option<Self> {
        Some(match err.kind() {
            ErrorKind::Auth => Self::Auth,
            ErrorKind::Sentinel => Self::Sentinel(err.details().to_string()),
            ErrorKind::Tls => Self::Tls(err.details().to_string()),
            ErrorKind::IO => io(err.details()),
            ErrorKind::Backpressure => Self::Backlog,
            _ => return None,
        })
    }
}

/// fred reports I/O errors in their `Debug` form: rustls failures (TLS causes) as
/// `Custom { kind: InvalidData, error: … }`, OS errors as `Os { …, message: "…" }`.
fn io(details: &str) -> Cause {
    if let Some(tls) = details
        .strip_prefix("Custom { kind: InvalidData, error: ")
        .and_then(|rest| rest.strip_suffix(" }"))
    {
        return Cause::Tls(tls.to_string());
    }
    let os = details
        .split_once("message: \"")
        .and_then(|(_, rest)| rest.strip_suffix("\" }"));
    Cause::Io(os.unwrap_or(details).to_string())
}

impl Error {
    /// `err` from a command; `last` is the last connection failure, reported when fred fails a
    /// command fast because it is not connected.
    pub(crate) fn of(err: &Fred, timeout: Duration, last: Option<Cause>) -> Self {
        if let Some(cause) = Cause::of(err) {
            return Self::Unavailable(cause);
        }
        match err.kind() {
            ErrorKind::Timeout => Self::Timeout(timeout),
            // fred's answer to a command that found no connection (dropped a moment ago).
            ErrorKind::Unknown if err.details() == "Failed to route command." => {
                Self::Unavailable(last.unwrap_or_else(|| Cause::Io("connection lost".into())))
            }
            ErrorKind::Canceled => Self::Unavailable(last.unwrap_or(Cause::NotConnected)),
            _ => Self::Refused(err.details().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_plainly() {
        assert_eq!(
            io(r#"Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }"#),
            Cause::Io("Connection refused".into())
        );
        assert_eq!(
            io("Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }"),
            Cause::Tls("InvalidCertificate(UnknownIssuer)".into())
        );
        assert_eq!(
            io("Connection closed."),
            Cause::Io("Connection closed.".into())
        );
    }
}
