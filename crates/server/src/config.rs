//! Repo-server flags and environment (upstream names) resolved into a typed [`Config`] before
//! anything starts: a bad value fails here, naming the flag, before a port is bound.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use repo_env::Env;
use repo_tls::Policy;

mod engine;
mod fetch;
mod flags;
mod log;
mod otlp;
mod plugins;
mod redis;
pub mod upstream;

pub use engine::{
    Engine, Expiry, Git, Gpg, Manifests, DEFAULT_EXEC_FATAL_TIMEOUT, DEFAULT_REPO_CACHE_DIR,
};
pub use fetch::{Fetch, DEFAULT_OCI_MEDIA_TYPES, DEFAULT_TLS_DATA_PATH};
pub use flags::Flags;
pub use log::{LogFormat, LogLevel};
pub use otlp::{Otlp, OtlpFlags};
pub use plugins::{PluginFlags, Plugins};
pub use redis::{Redis, RedisTls};
pub use repo_redis::{Compression, Secret, Server};

pub const DEFAULT_PORT: u16 = 8081;
pub const DEFAULT_METRICS_PORT: u16 = 8084;
pub const DEFAULT_ADDRESS: &str = "0.0.0.0";
pub const DEFAULT_CLIENT_CA_PATH: &str = "/app/config/reposerver/mtls/client-ca.crt";
pub const DEFAULT_CLIENT_CRL_PATH: &str = "/app/config/reposerver/mtls/client-crl.pem";
pub const DEFAULT_APP_CONF_PATH: &str = "/app/config";
pub const DEFAULT_MAX_SIZE_MB: usize = 100;

pub const ENV_DISABLE_TLS: &str = "ARGOCD_REPO_SERVER_DISABLE_TLS";
pub const ENV_CLIENT_CA_PATH: &str = "ARGOCD_REPO_SERVER_CLIENT_CA_PATH";
pub const ENV_CLIENT_CRL_PATH: &str = "ARGOCD_REPO_SERVER_CLIENT_CRL_PATH";
pub const ENV_TLS_MIN_VERSION: &str = "ARGOCD_TLS_MIN_VERSION";
pub const ENV_TLS_MAX_VERSION: &str = "ARGOCD_TLS_MAX_VERSION";
pub const ENV_TLS_CIPHERS: &str = "ARGOCD_TLS_CIPHERS";
pub const ENV_LISTEN_ADDRESS: &str = "ARGOCD_REPO_SERVER_LISTEN_ADDRESS";
pub const ENV_METRICS_LISTEN_ADDRESS: &str = "ARGOCD_REPO_SERVER_METRICS_LISTEN_ADDRESS";
pub const ENV_APP_CONF_PATH: &str = "ARGOCD_APP_CONF_PATH";
pub const ENV_LOG_FORMAT: &str = "ARGOCD_REPO_SERVER_LOGFORMAT";
pub const ENV_LOG_LEVEL: &str = "ARGOCD_REPO_SERVER_LOGLEVEL";
pub const ENV_GRPC_MAX_SIZE_MB: &str = "ARGOCD_GRPC_MAX_SIZE_MB";
pub const ENV_AUTHORIZATION_POLICY_PATH: &str = "ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH";
pub const ENV_CLIENT_AUTH_MODE: &str = "ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE";
pub const ENV_PARALLELISM_LIMIT: &str = "ARGOCD_REPO_SERVER_PARALLELISM_LIMIT";
pub const ENV_REPO_CACHE_DIR: &str = "ARGOCD_REPO_SERVER_REPO_CACHE_DIR";
pub const ENV_REPO_CACHE_SIZE_MB: &str = "ARGOCD_REPO_SERVER_REPO_CACHE_SIZE_MB";
pub const ENV_MANIFEST_CACHE_SIZE_MB: &str = "ARGOCD_REPO_SERVER_MANIFEST_CACHE_SIZE_MB";
pub const ENV_ALLOW_FILE_REPOS: &str = "ARGOCD_REPO_SERVER_ALLOW_FILE_REPOS";
pub const ENV_EXEC_TIMEOUT: &str = "ARGOCD_EXEC_TIMEOUT";
pub const ENV_PAUSE_AFTER: &str = "ARGOCD_PAUSE_GEN_AFTER_FAILED_ATTEMPTS";
pub const ENV_PAUSE_MINUTES: &str = "ARGOCD_PAUSE_GEN_MINUTES";
pub const ENV_PAUSE_REQUESTS: &str = "ARGOCD_PAUSE_GEN_REQUESTS";
pub const ENV_MAX_CONNECTION_AGE: &str = "ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE";
pub const ENV_MAX_CONNECTION_AGE_GRACE: &str = "ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE_GRACE";
pub const DEFAULT_MAX_CONNECTION_AGE: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_MAX_CONNECTION_AGE_GRACE: Duration = Duration::from_secs(30);
// Upstream's engine settings (`config::Engine`).
pub const ENV_MAX_COMBINED_MANIFESTS_SIZE: &str =
    "ARGOCD_REPO_SERVER_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE";
pub const ENV_STREAMED_MAX_TAR_SIZE: &str = "ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_TAR_SIZE";
pub const ENV_STREAMED_MAX_EXTRACTED_SIZE: &str =
    "ARGOCD_REPO_SERVER_STREAMED_MANIFEST_MAX_EXTRACTED_SIZE";
pub const ENV_ALLOW_OOB_SYMLINKS: &str = "ARGOCD_REPO_SERVER_ALLOW_OUT_OF_BOUNDS_SYMLINKS";
pub const ENV_GIT_MODULES_ENABLED: &str = "ARGOCD_GIT_MODULES_ENABLED";
pub const ENV_SSH_KNOWN_HOSTS: &str = "SSH_KNOWN_HOSTS";
pub const ENV_SSH_DATA_PATH: &str = "ARGOCD_SSH_DATA_PATH";
pub const ENV_GPG_ENABLED: &str = "ARGOCD_GPG_ENABLED";
pub const ENV_GPG_DATA_PATH: &str = "ARGOCD_GPG_DATA_PATH";
pub const ENV_GNUPGHOME: &str = "ARGOCD_GNUPGHOME";
pub const ENV_INCLUDE_HIDDEN_DIRECTORIES: &str = "ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES";
pub const ENV_REPO_CACHE_EXPIRATION: &str = "ARGOCD_REPO_CACHE_EXPIRATION";
pub const ENV_REVISION_CACHE_EXPIRATION: &str = "ARGOCD_RECONCILIATION_TIMEOUT";
pub const ENV_DEFAULT_CACHE_EXPIRATION: &str = "ARGOCD_DEFAULT_CACHE_EXPIRATION";
pub const ENV_GIT_REQUEST_TIMEOUT: &str = "ARGOCD_GIT_REQUEST_TIMEOUT";
pub const ENV_GIT_ATTEMPTS: &str = "ARGOCD_GIT_ATTEMPTS_COUNT";
pub const ENV_GIT_RETRY_DURATION: &str = "ARGOCD_GIT_RETRY_DURATION";
pub const ENV_GIT_RETRY_MAX_DURATION: &str = "ARGOCD_GIT_RETRY_MAX_DURATION";
pub const ENV_GIT_RETRY_FACTOR: &str = "ARGOCD_GIT_RETRY_FACTOR";
pub const ENV_GIT_LS_REMOTE_PARALLELISM: &str = "ARGOCD_GIT_LS_REMOTE_PARALLELISM_LIMIT";
/// Minutes a GitHub App installation token is used at most (upstream's default 60).
pub const ENV_GITHUB_APP_CREDS_EXPIRATION: &str = "ARGOCD_GITHUB_APP_CREDS_EXPIRATION_DURATION";
pub const ENV_EXEC_FATAL_TIMEOUT: &str = "ARGOCD_EXEC_FATAL_TIMEOUT";
// Helm repositories and OCI registries (`config::Fetch`).
pub const ENV_HELM_MAX_EXTRACTED_SIZE: &str = "ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_EXTRACTED_SIZE";
pub const ENV_DISABLE_HELM_MAX_EXTRACTED_SIZE: &str =
    "ARGOCD_REPO_SERVER_DISABLE_HELM_MANIFEST_MAX_EXTRACTED_SIZE";
pub const ENV_HELM_MAX_INDEX_SIZE: &str = "ARGOCD_REPO_SERVER_HELM_MANIFEST_MAX_INDEX_SIZE";
pub const ENV_OCI_MAX_EXTRACTED_SIZE: &str = "ARGOCD_REPO_SERVER_OCI_MANIFEST_MAX_EXTRACTED_SIZE";
pub const ENV_DISABLE_OCI_MAX_EXTRACTED_SIZE: &str =
    "ARGOCD_REPO_SERVER_DISABLE_OCI_MANIFEST_MAX_EXTRACTED_SIZE";
pub const ENV_OCI_LAYER_MEDIA_TYPES: &str = "ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES";
pub const ENV_HELM_USER_AGENT: &str = "ARGOCD_HELM_USER_AGENT";
pub const ENV_TLS_DATA_PATH: &str = "ARGOCD_TLS_DATA_PATH";

/// A setting's names, for error messages: its flag, when it has one, and its variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flag: Option<&'static str>,
    pub env: &'static str,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.flag {
            Some(flag) => write!(f, "{flag} ({})", self.env),
            None => f.write_str(self.env),
        }
    }
}

const fn both(flag: &'static str, env: &'static str) -> Setting {
    Setting {
        flag: Some(flag),
        env,
    }
}

const fn env_only(env: &'static str) -> Setting {
    Setting { flag: None, env }
}

const MAX_CONNECTION_AGE: Setting = both("--max-connection-age", ENV_MAX_CONNECTION_AGE);
const MAX_CONNECTION_AGE_GRACE: Setting =
    both("--max-connection-age-grace", ENV_MAX_CONNECTION_AGE_GRACE);
const PARALLELISM: Setting = both("--parallelismlimit", ENV_PARALLELISM_LIMIT);
const REPO_CACHE_SIZE: Setting = both("--repo-cache-size-mb", ENV_REPO_CACHE_SIZE_MB);
const MANIFEST_CACHE_SIZE: Setting = both("--manifest-cache-size-mb", ENV_MANIFEST_CACHE_SIZE_MB);
const MAX_COMBINED_MANIFESTS_SIZE: Setting = both(
    "--max-combined-directory-manifests-size",
    ENV_MAX_COMBINED_MANIFESTS_SIZE,
);
const STREAMED_MAX_TAR_SIZE: Setting = both(
    "--streamed-manifest-max-tar-size",
    ENV_STREAMED_MAX_TAR_SIZE,
);
const STREAMED_MAX_EXTRACTED_SIZE: Setting = both(
    "--streamed-manifest-max-extracted-size",
    ENV_STREAMED_MAX_EXTRACTED_SIZE,
);
const REPO_CACHE_EXPIRATION: Setting = both("--repo-cache-expiration", ENV_REPO_CACHE_EXPIRATION);
const REVISION_CACHE_EXPIRATION: Setting =
    both("--revision-cache-expiration", ENV_REVISION_CACHE_EXPIRATION);
const DEFAULT_CACHE_EXPIRATION: Setting =
    both("--default-cache-expiration", ENV_DEFAULT_CACHE_EXPIRATION);
const HELM_MAX_EXTRACTED_SIZE: Setting = both(
    "--helm-manifest-max-extracted-size",
    ENV_HELM_MAX_EXTRACTED_SIZE,
);
const HELM_MAX_INDEX_SIZE: Setting =
    both("--helm-registry-max-index-size", ENV_HELM_MAX_INDEX_SIZE);
const OCI_MAX_EXTRACTED_SIZE: Setting = both(
    "--oci-manifest-max-extracted-size",
    ENV_OCI_MAX_EXTRACTED_SIZE,
);

/// TLS settings; absent when `--disable-tls`.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Client-CA bundle path; mTLS is on iff this file exists.
    pub client_ca: Option<PathBuf>,
    /// CRL file path; revocation is checked iff this file exists.
    pub client_crl: Option<PathBuf>,
    /// Versions and cipher suites offered (`--tlsminversion`, `--tlsmaxversion`,
    /// `--tlsciphers`), parsed.
    pub policy: Policy,
    /// `false` in permissive mode: clients without a certificate are served.
    pub client_auth_required: bool,
}

/// Two policies are equal when they offer the same versions and suites.
impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        let versions = |p: &Policy| p.versions().iter().map(|v| v.version).collect::<Vec<_>>();
        let suites = |p: &Policy| {
            p.provider()
                .cipher_suites
                .iter()
                .map(|s| s.suite())
                .collect::<Vec<_>>()
        };
        (&self.cert, &self.key, &self.client_ca, &self.client_crl)
            == (&other.cert, &other.key, &other.client_ca, &other.client_crl)
            && self.client_auth_required == other.client_auth_required
            && versions(&self.policy) == versions(&other.policy)
            && suites(&self.policy) == suites(&other.policy)
    }
}

impl Eq for Tls {}

/// Everything the server needs, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub tls: Option<Tls>,
    pub max_message_bytes: usize,
    /// `None` means connections live as long as clients keep them.
    pub max_connection_age: Option<Duration>,
    pub max_connection_age_grace: Duration,
    pub authorization_policy: Option<PathBuf>,
    pub engine: Engine,
    pub log_format: LogFormat,
    pub log_level: LogLevel,
    /// OpenTelemetry tracing; `None` without `--otlp-address`.
    pub otlp: Option<Otlp>,
    /// To log once logging is set up: settings accepted but not implemented, TLS adjustments.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--client-ca-path cannot be used when --disable-tls is enabled")]
    CaWithoutTls,
    #[error("{flag}: {value:?} is not an IP address (use e.g. 0.0.0.0, 127.0.0.1 or ::)")]
    Address { flag: &'static str, value: String },
    #[error("{flag}: {value:?} must be json or text")]
    LogFormat { flag: &'static str, value: String },
    #[error("{flag}: {value:?} must be one of trace, debug, info, warn, error")]
    LogLevel { flag: &'static str, value: String },
    #[error("{ENV_GRPC_MAX_SIZE_MB}: {0:?} is not a whole number of MiB")]
    MaxSize(String),
    #[error("{0}: {1:?} is not a whole number")]
    Number(Setting, String),
    #[error("--client-auth-mode: {0:?} must be require or permissive")]
    ClientAuthMode(String),
    #[error("{setting}: {value:?} is not a duration (use e.g. 30m, 1h or 45s)")]
    Duration { setting: Setting, value: String },
    #[error("{setting}: {value:?} is not a size (use e.g. 10M, 1G or 512Mi)")]
    Size { setting: Setting, value: String },
    #[error("{0}: {1:?} must be {2}")]
    Choice(Setting, String, &'static str),
    #[error("--redis-client-certificate and --redis-client-key: give both or neither")]
    ClientKeyPair,
    /// A Redis credentials file that exists but cannot be read (the message never holds its
    /// content).
    #[error("{}: {}", redis::ENV_REDIS_CREDS_DIR_PATH, .0)]
    Credentials(String),
    #[error("{0}: {1:?} cannot be sent as an HTTP header (printable characters only)")]
    Header(Setting, String),
    /// A TLS version or cipher suite; the message names the flag.
    #[error("{0}")]
    Tls(String),
}

/// A duration: a flag in Go's syntax (cobra's `DurationVar`), else the variable as upstream's
/// `ParseDurationFromEnv` reads it (Go's syntax or whole days), else `default`.
fn duration(
    setting: Setting,
    flag: Option<String>,
    env: &dyn Env,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let (value, parsed) = match flag {
        Some(value) => {
            let parsed = repo_env::parse_duration(&value);
            (value, parsed)
        }
        None => match env.get(setting.env) {
            Some(value) => {
                let parsed = repo_env::parse_env_duration(&value);
                (value, parsed)
            }
            None => return Ok(default),
        },
    };
    parsed.ok_or(ConfigError::Duration { setting, value })
}

/// A duration read from the environment only, in Go's syntax (upstream's `util/exec`).
fn go_duration(
    key: &'static str,
    env: &dyn Env,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match env.get(key) {
        Some(value) => repo_env::parse_duration(&value).ok_or(ConfigError::Duration {
            setting: env_only(key),
            value,
        }),
        None => Ok(default),
    }
}

/// A size in Kubernetes quantity syntax (upstream's `resource.ParseQuantity`), in bytes.
fn size(
    setting: Setting,
    flag: Option<String>,
    env: &dyn Env,
    default: u64,
) -> Result<u64, ConfigError> {
    match flag.or_else(|| env.get(setting.env)) {
        Some(value) => repo_env::parse_quantity(&value).ok_or(ConfigError::Size { setting, value }),
        None => Ok(default),
    }
}

fn number<T: std::str::FromStr>(
    setting: Setting,
    flag: Option<T>,
    env: &dyn Env,
    default: T,
) -> Result<T, ConfigError> {
    match flag {
        Some(v) => Ok(v),
        None => match env.get(setting.env) {
            Some(v) => v.parse().map_err(|_| ConfigError::Number(setting, v)),
            None => Ok(default),
        },
    }
}

fn ip(flag: &'static str, value: String) -> Result<IpAddr, ConfigError> {
    if value == "localhost" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    value
        .parse()
        .map_err(|_| ConfigError::Address { flag, value })
}

impl Config {
    pub fn resolve(mut flags: Flags, env: &dyn Env) -> Result<Self, ConfigError> {
        let mut warnings = flags.unimplemented.warnings(env);
        let disable_tls = repo_env::boolean(flags.disable_tls, env, ENV_DISABLE_TLS, false);
        // Upstream #29661/#29662: only a path given explicitly conflicts with --disable-tls;
        // the default mount path never does.
        let explicit_ca = flags
            .client_ca_path
            .take()
            .or_else(|| env.get(ENV_CLIENT_CA_PATH));
        if disable_tls && explicit_ca.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(ConfigError::CaWithoutTls);
        }
        let address = ip(
            "--address",
            repo_env::string(
                flags.address.take(),
                env,
                ENV_LISTEN_ADDRESS,
                DEFAULT_ADDRESS,
            ),
        )?;
        let metrics_address = ip(
            "--metrics-address",
            repo_env::string(
                flags.metrics_address.take(),
                env,
                ENV_METRICS_LISTEN_ADDRESS,
                DEFAULT_ADDRESS,
            ),
        )?;
        let log_format = repo_env::string(flags.logformat.take(), env, ENV_LOG_FORMAT, "json");
        let log_format = log_format.parse().map_err(|()| ConfigError::LogFormat {
            flag: "--logformat",
            value: log_format,
        })?;
        let log_level = repo_env::string(flags.loglevel.take(), env, ENV_LOG_LEVEL, "info");
        let log_level = log_level.parse().map_err(|()| ConfigError::LogLevel {
            flag: "--loglevel",
            value: log_level,
        })?;
        let max_mb = match env.get(ENV_GRPC_MAX_SIZE_MB) {
            None => DEFAULT_MAX_SIZE_MB,
            Some(v) => v.parse().map_err(|_| ConfigError::MaxSize(v))?,
        };
        let age = duration(
            MAX_CONNECTION_AGE,
            flags.max_connection_age.take(),
            env,
            DEFAULT_MAX_CONNECTION_AGE,
        )?;
        let grace = duration(
            MAX_CONNECTION_AGE_GRACE,
            flags.max_connection_age_grace.take(),
            env,
            DEFAULT_MAX_CONNECTION_AGE_GRACE,
        )?;
        let mode = repo_env::string(
            flags.client_auth_mode.take(),
            env,
            ENV_CLIENT_AUTH_MODE,
            "require",
        );
        let client_auth_required = match mode.as_str() {
            "require" => true,
            "permissive" => false,
            _ => return Err(ConfigError::ClientAuthMode(mode)),
        };
        let policy = repo_env::string(
            flags.authorization_policy.take(),
            env,
            ENV_AUTHORIZATION_POLICY_PATH,
            "",
        );
        let otlp = Otlp::resolve(std::mem::take(&mut flags.otlp), env, &mut warnings)?;
        let engine = Engine::resolve(&mut flags, env, &mut warnings)?;
        let tls = if disable_tls {
            None
        } else {
            let conf = repo_env::string(None, env, ENV_APP_CONF_PATH, DEFAULT_APP_CONF_PATH);
            let dir = PathBuf::from(conf).join("reposerver/tls");
            let ca = explicit_ca.unwrap_or_else(|| DEFAULT_CLIENT_CA_PATH.to_string());
            let crl = repo_env::string(
                flags.client_crl_path.take(),
                env,
                ENV_CLIENT_CRL_PATH,
                DEFAULT_CLIENT_CRL_PATH,
            );
            let ciphers = flags.tlsciphers.take().or_else(|| env.get(ENV_TLS_CIPHERS));
            let (policy, adjusted) = Policy::new(
                &repo_env::string(flags.tlsminversion.take(), env, ENV_TLS_MIN_VERSION, "1.2"),
                &repo_env::string(flags.tlsmaxversion.take(), env, ENV_TLS_MAX_VERSION, "1.3"),
                ciphers.as_deref().unwrap_or(repo_tls::DEFAULT_CIPHERS),
                ciphers.is_some(),
            )
            .map_err(|e| {
                ConfigError::Tls(match e {
                    repo_tls::Error::Settings(message) => message,
                    other => other.to_string(),
                })
            })?;
            warnings.extend(adjusted);
            Some(Tls {
                cert: dir.join("tls.crt"),
                key: dir.join("tls.key"),
                client_ca: (!ca.is_empty()).then(|| PathBuf::from(ca)),
                client_crl: (!crl.is_empty()).then(|| PathBuf::from(crl)),
                policy,
                client_auth_required,
            })
        };
        Ok(Self {
            grpc: SocketAddr::new(address, flags.port.unwrap_or(DEFAULT_PORT)),
            http: SocketAddr::new(
                metrics_address,
                flags.metrics_port.unwrap_or(DEFAULT_METRICS_PORT),
            ),
            tls,
            max_message_bytes: max_mb * 1024 * 1024,
            max_connection_age: (!age.is_zero()).then_some(age),
            max_connection_age_grace: grace,
            authorization_policy: (!policy.is_empty()).then(|| PathBuf::from(policy)),
            engine,
            log_format,
            log_level,
            otlp,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;
    use repo_tls::rustls::{CipherSuite, ProtocolVersion};

    fn resolve(flags: Flags, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::resolve(flags, &Map::new(env.iter().copied()))
    }

    /// The versions a policy offers, and its TLS 1.2 suites, sorted.
    fn offered(policy: &Policy) -> (Vec<ProtocolVersion>, Vec<CipherSuite>) {
        let versions = policy.versions().iter().map(|v| v.version).collect();
        let mut tls12: Vec<_> = policy
            .provider()
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &repo_tls::rustls::version::TLS12)
            .map(|s| s.suite())
            .collect();
        tls12.sort_by_key(|s| u16::from(*s));
        (versions, tls12)
    }

    #[test]
    fn defaults_match_upstream() {
        let c = resolve(Flags::default(), &[]).unwrap();
        assert_eq!(c.grpc, "0.0.0.0:8081".parse().unwrap());
        assert_eq!(c.http, "0.0.0.0:8084".parse().unwrap());
        let tls = c.tls.unwrap();
        assert_eq!(
            tls.cert,
            PathBuf::from("/app/config/reposerver/tls/tls.crt")
        );
        assert_eq!(tls.key, PathBuf::from("/app/config/reposerver/tls/tls.key"));
        assert_eq!(tls.client_ca, Some(PathBuf::from(DEFAULT_CLIENT_CA_PATH)));
        // TLS 1.2 and 1.3; the default suite and its ECDSA twin for 1.2, as upstream offers.
        let (versions, tls12) = offered(&tls.policy);
        assert_eq!(
            versions,
            [ProtocolVersion::TLSv1_2, ProtocolVersion::TLSv1_3]
        );
        assert_eq!(
            tls12,
            [
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
            ]
        );
        assert_eq!(c.max_message_bytes, 100 * 1024 * 1024);
        assert_eq!(
            (c.log_format, c.log_level),
            (LogFormat::Json, LogLevel::Info)
        );
        assert_eq!(c.warnings, Vec::<String>::new());
    }

    #[test]
    fn disable_tls_alone_starts() {
        // Upstream #29661: the default client-CA path must not conflict with --disable-tls,
        // whether it comes from the flag, the env var or the config map set to "".
        let flags = Flags {
            disable_tls: Some(true),
            ..Flags::default()
        };
        assert_eq!(resolve(flags, &[]).unwrap().tls, None);
        let env = [(ENV_DISABLE_TLS, "true"), (ENV_CLIENT_CA_PATH, "")];
        assert_eq!(resolve(Flags::default(), &env).unwrap().tls, None);
    }

    #[test]
    fn disable_tls_with_explicit_ca_is_refused() {
        let flags = Flags {
            disable_tls: Some(true),
            client_ca_path: Some("/x/ca.crt".into()),
            ..Flags::default()
        };
        assert_eq!(resolve(flags, &[]), Err(ConfigError::CaWithoutTls));
        let env = [(ENV_DISABLE_TLS, "true"), (ENV_CLIENT_CA_PATH, "/x/ca.crt")];
        assert_eq!(
            resolve(Flags::default(), &env),
            Err(ConfigError::CaWithoutTls)
        );
        let explicit_empty = Flags {
            disable_tls: Some(true),
            client_ca_path: Some(String::new()),
            ..Flags::default()
        };
        assert_eq!(resolve(explicit_empty, &[]).unwrap().tls, None);
    }

    #[test]
    fn env_is_honoured_and_empty_means_default() {
        let env = [
            (ENV_APP_CONF_PATH, "/etc/argo"),
            (ENV_CLIENT_CA_PATH, ""),
            (ENV_TLS_MIN_VERSION, "1.3"),
            (ENV_TLS_CIPHERS, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            (ENV_LISTEN_ADDRESS, "127.0.0.1"),
            (ENV_GRPC_MAX_SIZE_MB, "7"),
        ];
        let c = resolve(Flags::default(), &env).unwrap();
        assert_eq!(c.grpc, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(c.max_message_bytes, 7 * 1024 * 1024);
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/argo/reposerver/tls/tls.crt"));
        assert_eq!(
            tls.client_ca,
            Some(PathBuf::from(DEFAULT_CLIENT_CA_PATH)),
            "client CA path does not follow ARGOCD_APP_CONF_PATH"
        );
        let (versions, tls12) = offered(&tls.policy);
        assert_eq!((versions, tls12), (vec![ProtocolVersion::TLSv1_3], vec![]));
        // The explicit cipher list is reported as ignored under TLS 1.3 only.
        assert_eq!(
            c.warnings,
            ["--tlsciphers is ignored because the minimum TLS version is 1.3"]
        );
    }

    #[test]
    fn explicit_empty_ca_flag_turns_mtls_off() {
        let flags = Flags {
            client_ca_path: Some(String::new()),
            ..Flags::default()
        };
        assert_eq!(resolve(flags, &[]).unwrap().tls.unwrap().client_ca, None);
    }

    #[test]
    fn authorization_and_client_auth_mode() {
        let c = resolve(Flags::default(), &[]).unwrap();
        assert_eq!(c.authorization_policy, None);
        assert!(c.tls.unwrap().client_auth_required);
        let env = [
            (ENV_AUTHORIZATION_POLICY_PATH, "/p.yaml"),
            (ENV_CLIENT_AUTH_MODE, "permissive"),
        ];
        let c = resolve(Flags::default(), &env).unwrap();
        assert_eq!(c.authorization_policy, Some(PathBuf::from("/p.yaml")));
        assert!(!c.tls.unwrap().client_auth_required);
        let err = resolve(Flags::default(), &[(ENV_CLIENT_AUTH_MODE, "lax")]).unwrap_err();
        assert!(err.to_string().contains("--client-auth-mode"), "{err}");
    }

    #[test]
    fn engine_settings() {
        let e = resolve(Flags::default(), &[]).unwrap().engine;
        assert_eq!(e.repo_cache_dir, PathBuf::from(DEFAULT_REPO_CACHE_DIR));
        assert_eq!(
            (e.parallelism, e.pause_after_failures, e.pause_for_requests),
            (0, 3, 0)
        );
        assert_eq!(e.exec_timeout, Duration::from_secs(90));
        assert_eq!(e.pause_for, Duration::from_secs(3600));
        assert!(!e.allow_file);
        let env = [
            (ENV_PARALLELISM_LIMIT, "4"),
            (ENV_EXEC_TIMEOUT, "2m"),
            (ENV_ALLOW_FILE_REPOS, "true"),
        ];
        let e = resolve(Flags::default(), &env).unwrap().engine;
        assert_eq!(
            (e.parallelism, e.exec_timeout, e.allow_file),
            (4, Duration::from_secs(120), true)
        );
        let err = resolve(Flags::default(), &[(ENV_PARALLELISM_LIMIT, "many")]).unwrap_err();
        assert!(err.to_string().contains(ENV_PARALLELISM_LIMIT), "{err}");
    }

    #[test]
    fn connection_age() {
        let c = resolve(Flags::default(), &[(ENV_MAX_CONNECTION_AGE, "0")]).unwrap();
        assert_eq!(c.max_connection_age, None);
        let flags = Flags {
            max_connection_age: Some("1h".into()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(flags, &[]).unwrap().max_connection_age,
            Some(Duration::from_secs(3600))
        );
        let err = resolve(Flags::default(), &[(ENV_MAX_CONNECTION_AGE_GRACE, "soon")]).unwrap_err();
        assert!(
            err.to_string().contains("--max-connection-age-grace"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let flags = Flags {
            address: Some("example.com".into()),
            ..Flags::default()
        };
        assert!(resolve(flags, &[])
            .unwrap_err()
            .to_string()
            .contains("--address"));
        let err = resolve(Flags::default(), &[(ENV_LOG_FORMAT, "xml")]).unwrap_err();
        assert!(err.to_string().contains("--logformat"), "{err}");
    }

    #[test]
    fn tls_policy_is_parsed_before_anything_starts() {
        let flags = Flags {
            tlsciphers: Some("TLS_RSA_WITH_AES_128_CBC_SHA".into()),
            ..Flags::default()
        };
        let err = resolve(flags, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "--tlsciphers: cipher suite TLS_RSA_WITH_AES_128_CBC_SHA is not supported"
            ),
            "{err}"
        );
        let err = resolve(Flags::default(), &[(ENV_TLS_MIN_VERSION, "1.4")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--tlsminversion: unknown TLS version \"1.4\""),
            "{err}"
        );
        let flags = Flags {
            tlsminversion: Some("1.3".into()),
            tlsmaxversion: Some("1.2".into()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(flags, &[]).unwrap_err(),
            ConfigError::Tls("--tlsminversion is greater than --tlsmaxversion".into())
        );
        // With TLS off the TLS flags are not used, as upstream.
        let flags = Flags {
            disable_tls: Some(true),
            tlsciphers: Some("nonsense".into()),
            ..Flags::default()
        };
        assert_eq!(resolve(flags, &[]).unwrap().tls, None);
    }

    #[test]
    fn tls_flags_beat_environment() {
        let flags = Flags {
            tlsciphers: Some("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305".into()),
            tlsmaxversion: Some("1.2".into()),
            ..Flags::default()
        };
        let env = [
            (ENV_TLS_CIPHERS, "TLS_RSA_WITH_AES_128_CBC_SHA"),
            (ENV_TLS_MAX_VERSION, "1.0"),
        ];
        let tls = resolve(flags, &env).unwrap().tls.unwrap();
        assert_eq!(
            offered(&tls.policy),
            (
                vec![ProtocolVersion::TLSv1_2],
                vec![CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]
            )
        );
    }

    #[test]
    fn log_settings_are_typed() {
        let env = [(ENV_LOG_FORMAT, "text"), (ENV_LOG_LEVEL, "WARNING")];
        let c = resolve(Flags::default(), &env).unwrap();
        assert_eq!(
            (c.log_format, c.log_level),
            (LogFormat::Text, LogLevel::Warn)
        );
        let flags = Flags {
            loglevel: Some("debug".into()),
            ..Flags::default()
        };
        assert_eq!(resolve(flags, &env).unwrap().log_level, LogLevel::Debug);
        let err = resolve(Flags::default(), &[(ENV_LOG_LEVEL, "verbose")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--loglevel: \"verbose\" must be one of trace, debug, info, warn, error"
        );
    }
}
