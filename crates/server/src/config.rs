//! Repo-server flags (upstream names) resolved into a plain [`Config`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use repo_env::Env;

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
pub const DEFAULT_REPO_CACHE_DIR: &str = "/tmp/argocd-repo-server";
pub const ENV_MAX_CONNECTION_AGE: &str = "ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE";
pub const ENV_MAX_CONNECTION_AGE_GRACE: &str = "ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE_GRACE";
pub const DEFAULT_MAX_CONNECTION_AGE: &str = "30m";
pub const DEFAULT_MAX_CONNECTION_AGE_GRACE: &str = "30s";

/// Command-line flags of `argocd-repo-server`. Unset flags fall back to their environment
/// variable (when non-empty), then to upstream's default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// Listen on given port for incoming connections [default: 8081]
    #[arg(long)]
    pub port: Option<u16>,
    /// Start metrics server on given port [default: 8084]
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Listen on given address for incoming connections [env: ARGOCD_REPO_SERVER_LISTEN_ADDRESS] [default: 0.0.0.0]
    #[arg(long)]
    pub address: Option<String>,
    /// Listen on given address for metrics [env: ARGOCD_REPO_SERVER_METRICS_LISTEN_ADDRESS] [default: 0.0.0.0]
    #[arg(long)]
    pub metrics_address: Option<String>,
    /// Disable TLS for the repo-server gRPC endpoint [env: ARGOCD_REPO_SERVER_DISABLE_TLS]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disable_tls: Option<bool>,
    /// CA bundle for client certificates; mTLS is required when the file exists [env: ARGOCD_REPO_SERVER_CLIENT_CA_PATH] [default: /app/config/reposerver/mtls/client-ca.crt]
    #[arg(long)]
    pub client_ca_path: Option<String>,
    /// PEM CRLs of the client CAs; revoked client certificates are refused; absent file = no revocation checking [env: ARGOCD_REPO_SERVER_CLIENT_CRL_PATH] [default: /app/config/reposerver/mtls/client-crl.pem]
    #[arg(long)]
    pub client_crl_path: Option<String>,
    /// The minimum TLS version to accept [env: ARGOCD_TLS_MIN_VERSION] [default: 1.2]
    #[arg(long)]
    pub tlsminversion: Option<String>,
    /// The maximum TLS version to accept [env: ARGOCD_TLS_MAX_VERSION] [default: 1.3]
    #[arg(long)]
    pub tlsmaxversion: Option<String>,
    /// Colon-separated TLS 1.2 cipher suites, or `list` [env: ARGOCD_TLS_CIPHERS] [default: TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
    #[arg(long)]
    pub tlsciphers: Option<String>,
    /// Close client connections after this long (GOAWAY, then the grace period), so rotated-out or revoked clients cannot keep an old connection; 0 disables [env: ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE] [default: 30m]
    #[arg(long, value_name = "DURATION")]
    pub max_connection_age: Option<String>,
    /// Time in-flight calls get to finish once a connection reached its maximum age [env: ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE_GRACE] [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub max_connection_age_grace: Option<String>,
    /// YAML allow-list of which client identity may call which RPC, reloaded live; unset = every authenticated client may call everything [env: ARGOCD_REPO_SERVER_AUTHORIZATION_POLICY_PATH]
    #[arg(long, value_name = "PATH")]
    pub authorization_policy: Option<String>,
    /// require (upstream): clients must present a certificate when mTLS is on; permissive: clients without one are served and counted, for migrations [env: ARGOCD_REPO_SERVER_CLIENT_AUTH_MODE] [default: require]
    #[arg(long, value_name = "MODE")]
    pub client_auth_mode: Option<String>,
    /// Limit on concurrent manifest generations; 0 = unlimited [env: ARGOCD_REPO_SERVER_PARALLELISM_LIMIT] [default: 0]
    #[arg(long)]
    pub parallelismlimit: Option<usize>,
    /// Directory of the git repository cache [env: ARGOCD_REPO_SERVER_REPO_CACHE_DIR] [default: /tmp/argocd-repo-server]
    #[arg(long, value_name = "DIR")]
    pub repo_cache_dir: Option<String>,
    /// Disk budget of the git cache in MiB; unused snapshots are evicted beyond it [env: ARGOCD_REPO_SERVER_REPO_CACHE_SIZE_MB] [default: 10240]
    #[arg(long, value_name = "MIB")]
    pub repo_cache_size_mb: Option<u64>,
    /// Memory budget of the manifest cache in MiB [env: ARGOCD_REPO_SERVER_MANIFEST_CACHE_SIZE_MB] [default: 256]
    #[arg(long, value_name = "MIB")]
    pub manifest_cache_size_mb: Option<usize>,
    /// Allow file:// repositories (tests and local development only) [env: ARGOCD_REPO_SERVER_ALLOW_FILE_REPOS]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_file_repos: Option<bool>,
    /// Log format: json or text [env: ARGOCD_REPO_SERVER_LOGFORMAT] [default: json]
    #[arg(long)]
    pub logformat: Option<String>,
    /// Log level: debug, info, warn or error [env: ARGOCD_REPO_SERVER_LOGLEVEL] [default: info]
    #[arg(long)]
    pub loglevel: Option<String>,
}

/// TLS settings; absent when `--disable-tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Client-CA bundle path; mTLS is on iff this file exists.
    pub client_ca: Option<PathBuf>,
    /// CRL file path; revocation is checked iff this file exists.
    pub client_crl: Option<PathBuf>,
    pub min_version: String,
    pub max_version: String,
    pub ciphers: String,
    pub ciphers_explicit: bool,
    /// `false` in permissive mode: clients without a certificate are served.
    pub client_auth_required: bool,
}

/// Settings of the repository engine (git cache, manifest cache, tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub repo_cache_dir: PathBuf,
    pub repo_cache_bytes: u64,
    pub manifest_cache_bytes: usize,
    pub allow_file: bool,
    pub parallelism: usize,
    pub exec_timeout: Duration,
    pub pause_after_failures: u32,
    pub pause_for: Duration,
    pub pause_for_requests: u32,
}

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
    pub log_format: String,
    pub log_level: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--client-ca-path cannot be used when --disable-tls is enabled")]
    CaWithoutTls,
    #[error("{flag}: {value:?} is not an IP address (use e.g. 0.0.0.0, 127.0.0.1 or ::)")]
    Address { flag: &'static str, value: String },
    #[error("{flag}: {value:?} must be json or text")]
    LogFormat { flag: &'static str, value: String },
    #[error("{flag}: {value:?} must be one of debug, info, warn, error")]
    LogLevel { flag: &'static str, value: String },
    #[error("{ENV_GRPC_MAX_SIZE_MB}: {0:?} is not a whole number of MiB")]
    MaxSize(String),
    #[error("{0}: {1:?} is not a whole number")]
    Number(&'static str, String),
    #[error("--client-auth-mode: {0:?} must be require or permissive")]
    ClientAuthMode(String),
    #[error("{flag}: {value:?} is not a duration (use e.g. 30m, 1h, 45s; 0 disables)")]
    Duration { flag: &'static str, value: String },
}

fn duration(flag: &'static str, value: String) -> Result<Duration, ConfigError> {
    repo_env::parse_duration(&value).ok_or(ConfigError::Duration { flag, value })
}

fn number<T: std::str::FromStr>(
    flag: Option<T>,
    env: &dyn Env,
    key: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match flag {
        Some(v) => Ok(v),
        None => match env.get(key) {
            Some(v) => v.parse().map_err(|_| ConfigError::Number(key, v)),
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
    pub fn resolve(flags: Flags, env: &dyn Env) -> Result<Self, ConfigError> {
        let disable_tls = repo_env::boolean(flags.disable_tls, env, ENV_DISABLE_TLS, false);
        // Upstream #29661/#29662: only a path given explicitly conflicts with --disable-tls;
        // the default mount path never does.
        let explicit_ca = flags.client_ca_path.or_else(|| env.get(ENV_CLIENT_CA_PATH));
        if disable_tls && explicit_ca.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(ConfigError::CaWithoutTls);
        }
        let address = ip(
            "--address",
            repo_env::string(flags.address, env, ENV_LISTEN_ADDRESS, DEFAULT_ADDRESS),
        )?;
        let metrics_address = ip(
            "--metrics-address",
            repo_env::string(
                flags.metrics_address,
                env,
                ENV_METRICS_LISTEN_ADDRESS,
                DEFAULT_ADDRESS,
            ),
        )?;
        let log_format = repo_env::string(flags.logformat, env, ENV_LOG_FORMAT, "json");
        if !matches!(log_format.as_str(), "json" | "text") {
            return Err(ConfigError::LogFormat {
                flag: "--logformat",
                value: log_format,
            });
        }
        let log_level = repo_env::string(flags.loglevel, env, ENV_LOG_LEVEL, "info").to_lowercase();
        if !matches!(
            log_level.as_str(),
            "debug" | "info" | "warn" | "warning" | "error"
        ) {
            return Err(ConfigError::LogLevel {
                flag: "--loglevel",
                value: log_level,
            });
        }
        let max_mb = match env.get(ENV_GRPC_MAX_SIZE_MB) {
            None => DEFAULT_MAX_SIZE_MB,
            Some(v) => v.parse().map_err(|_| ConfigError::MaxSize(v))?,
        };
        let age = duration(
            "--max-connection-age",
            repo_env::string(
                flags.max_connection_age,
                env,
                ENV_MAX_CONNECTION_AGE,
                DEFAULT_MAX_CONNECTION_AGE,
            ),
        )?;
        let grace = duration(
            "--max-connection-age-grace",
            repo_env::string(
                flags.max_connection_age_grace,
                env,
                ENV_MAX_CONNECTION_AGE_GRACE,
                DEFAULT_MAX_CONNECTION_AGE_GRACE,
            ),
        )?;
        let mode = repo_env::string(flags.client_auth_mode, env, ENV_CLIENT_AUTH_MODE, "require");
        let client_auth_required = match mode.as_str() {
            "require" => true,
            "permissive" => false,
            _ => return Err(ConfigError::ClientAuthMode(mode)),
        };
        let policy = repo_env::string(
            flags.authorization_policy,
            env,
            ENV_AUTHORIZATION_POLICY_PATH,
            "",
        );
        let engine = Engine {
            repo_cache_dir: PathBuf::from(repo_env::string(
                flags.repo_cache_dir,
                env,
                ENV_REPO_CACHE_DIR,
                DEFAULT_REPO_CACHE_DIR,
            )),
            repo_cache_bytes: number(flags.repo_cache_size_mb, env, ENV_REPO_CACHE_SIZE_MB, 10240)?
                * 1024
                * 1024,
            manifest_cache_bytes: number(
                flags.manifest_cache_size_mb,
                env,
                ENV_MANIFEST_CACHE_SIZE_MB,
                256,
            )? * 1024
                * 1024,
            allow_file: repo_env::boolean(flags.allow_file_repos, env, ENV_ALLOW_FILE_REPOS, false),
            parallelism: number(flags.parallelismlimit, env, ENV_PARALLELISM_LIMIT, 0)?,
            exec_timeout: duration(
                "ARGOCD_EXEC_TIMEOUT",
                repo_env::string(None, env, ENV_EXEC_TIMEOUT, "90s"),
            )?,
            pause_after_failures: number(None, env, ENV_PAUSE_AFTER, 3)?,
            pause_for: Duration::from_secs(60 * number::<u64>(None, env, ENV_PAUSE_MINUTES, 60)?),
            pause_for_requests: number(None, env, ENV_PAUSE_REQUESTS, 0)?,
        };
        let tls = (!disable_tls).then(|| {
            let conf = repo_env::string(None, env, ENV_APP_CONF_PATH, DEFAULT_APP_CONF_PATH);
            let dir = PathBuf::from(conf).join("reposerver/tls");
            let ca = explicit_ca.unwrap_or_else(|| DEFAULT_CLIENT_CA_PATH.to_string());
            let crl = repo_env::string(
                flags.client_crl_path,
                env,
                ENV_CLIENT_CRL_PATH,
                DEFAULT_CLIENT_CRL_PATH,
            );
            let ciphers_flag = flags.tlsciphers.or_else(|| env.get(ENV_TLS_CIPHERS));
            Tls {
                cert: dir.join("tls.crt"),
                key: dir.join("tls.key"),
                client_ca: (!ca.is_empty()).then(|| PathBuf::from(ca)),
                client_crl: (!crl.is_empty()).then(|| PathBuf::from(crl)),
                min_version: repo_env::string(flags.tlsminversion, env, ENV_TLS_MIN_VERSION, "1.2"),
                max_version: repo_env::string(flags.tlsmaxversion, env, ENV_TLS_MAX_VERSION, "1.3"),
                ciphers_explicit: ciphers_flag.is_some(),
                ciphers: ciphers_flag.unwrap_or_else(|| repo_tls::DEFAULT_CIPHERS.to_string()),
                client_auth_required,
            }
        });
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;

    fn resolve(flags: Flags, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::resolve(flags, &Map::new(env.iter().copied()))
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
        assert_eq!(
            (tls.min_version.as_str(), tls.max_version.as_str()),
            ("1.2", "1.3")
        );
        assert_eq!(tls.ciphers, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
        assert!(!tls.ciphers_explicit);
        assert_eq!(c.max_message_bytes, 100 * 1024 * 1024);
        assert_eq!(
            (c.log_format.as_str(), c.log_level.as_str()),
            ("json", "info")
        );
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
        assert!(resolve(explicit_empty, &[]).is_ok());
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
        assert_eq!(tls.min_version, "1.3");
        assert!(tls.ciphers_explicit);
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
}
