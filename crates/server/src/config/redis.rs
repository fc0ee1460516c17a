//! The shared cache: upstream's Redis settings (`util/cache/cache.go`, `reposerver/cache`)
//! with upstream's names, defaults and credential sources. Inside Kubernetes, with neither a
//! server nor Sentinel named, Redis is upstream's `argocd-redis:6379`, as upstream falls back
//! to it (every upstream install runs that Service), so swapping the image in shares the cache
//! the other replicas use. Outside Kubernetes (a laptop, tests) the caches stay in-process
//! unless a server is named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use repo_env::Env;
use repo_redis::{Compression, Secret, Server};

use super::*;

pub(crate) const ENV_REDIS_SERVER: &str = "REDIS_SERVER";
pub(crate) const ENV_REDISDB: &str = "REDISDB";
pub(crate) const ENV_REDIS_SENTINEL_HOSTS: &str = "REDIS_SENTINEL_HOSTS";
pub(crate) const ENV_REDIS_SENTINEL_MASTER: &str = "REDIS_SENTINEL_MASTER";
pub(crate) const ENV_REDIS_USERNAME: &str = "REDIS_USERNAME";
pub(crate) const ENV_REDIS_PASSWORD: &str = "REDIS_PASSWORD";
pub(crate) const ENV_REDIS_SENTINEL_USERNAME: &str = "REDIS_SENTINEL_USERNAME";
pub(crate) const ENV_REDIS_SENTINEL_PASSWORD: &str = "REDIS_SENTINEL_PASSWORD";
pub(crate) const ENV_REDIS_CREDS_DIR_PATH: &str = "REDIS_CREDS_DIR_PATH";
pub(crate) const ENV_REDIS_COMPRESSION: &str = "REDIS_COMPRESSION";
pub(crate) const ENV_REDIS_RETRY_COUNT: &str = "REDIS_RETRY_COUNT";
pub(crate) const ENV_REDIS_KEY_PREFIX: &str = "ARGOCD_REDIS_KEY_PREFIX";
pub(crate) const ENV_REVISION_CACHE_LOCK_TIMEOUT: &str = "ARGOCD_REVISION_CACHE_LOCK_TIMEOUT";

/// Upstream's `common.DefaultRedisAddr`, used inside Kubernetes when no server is named.
pub(crate) const DEFAULT_SERVER: &str = "argocd-redis:6379";
/// Set in every Kubernetes pod: how the default server knows it runs in a cluster.
const IN_CLUSTER_VARIABLE: &str = "KUBERNETES_SERVICE_HOST";

/// Upstream's `--sentinelmaster` default.
pub(crate) const DEFAULT_SENTINEL_MASTER: &str = "master";
/// Upstream's `--revision-cache-lock-timeout` default.
pub(crate) const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

const REDIS: Setting = both("--redis", ENV_REDIS_SERVER);
const REDISDB: Setting = both("--redisdb", ENV_REDISDB);
const SENTINEL: Setting = both("--sentinel", ENV_REDIS_SENTINEL_HOSTS);
const COMPRESS: Setting = both("--redis-compress", ENV_REDIS_COMPRESSION);
const LOCK_TIMEOUT: Setting = both(
    "--revision-cache-lock-timeout",
    ENV_REVISION_CACHE_LOCK_TIMEOUT,
);

/// `--redis-use-tls` and the certificates that go with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// `--redis-ca-certificate`: the CAs the server's certificate is checked against instead
    /// of the system's.
    pub ca: Option<PathBuf>,
    /// `--redis-client-certificate` and `--redis-client-key`.
    pub client: Option<(PathBuf, PathBuf)>,
    /// `--redis-insecure-skip-tls-verify`.
    pub insecure: bool,
}

/// The shared cache's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redis {
    /// `--redis`, or `--sentinel` (which wins, as upstream) and `--sentinelmaster`.
    pub server: Server,
    /// `--redisdb`.
    pub db: u32,
    /// `REDIS_USERNAME` and the others: `None` when unset or empty.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<Secret>,
    /// `None` without `--redis-use-tls`.
    pub tls: Option<RedisTls>,
    pub compression: Compression,
    /// `ARGOCD_REDIS_KEY_PREFIX`: put before every name.
    pub key_prefix: String,
    /// `--revision-cache-lock-timeout`: how long a replica waits for another one rendering
    /// (or listing refs of) the same thing before doing it itself; zero disables the locks.
    pub lock_timeout: Duration,
}

impl Redis {
    /// The settings when a server or Sentinel is named, else `None`; `warnings` gets the
    /// settings that have no effect.
    pub(super) fn resolve(
        flags: &mut Flags,
        env: &dyn Env,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Self>, ConfigError> {
        // Checked whether Redis is used or not, so a typo fails at once.
        let lock_timeout = duration(
            LOCK_TIMEOUT,
            flags.revision_cache_lock_timeout.take(),
            env,
            DEFAULT_LOCK_TIMEOUT,
        )?;
        let compression = match repo_env::string(
            flags.redis_compress.take(),
            env,
            ENV_REDIS_COMPRESSION,
            "gzip",
        )
        .as_str()
        {
            "gzip" => Compression::Gzip,
            "none" => Compression::None,
            other => return Err(ConfigError::Choice(COMPRESS, other.into(), "gzip or none")),
        };
        // The client selects databases 0 to 255 (upstream's allows any int32; Redis has 16
        // unless configured otherwise).
        let db = number::<u32>(REDISDB, flags.redisdb, env, 0)?;
        if db > 255 {
            return Err(ConfigError::Choice(REDISDB, db.to_string(), "0 to 255"));
        }
        // Upstream retries a failed command REDIS_RETRY_COUNT times; here a command is sent
        // once and a failure is a cache miss, so only "no retries" can be honoured.
        let retries = number::<u32>(env_only(ENV_REDIS_RETRY_COUNT), None, env, 0)?;
        if retries != 0 {
            return Err(ConfigError::Choice(
                env_only(ENV_REDIS_RETRY_COUNT),
                retries.to_string(),
                "0: a Redis command is never retried here (a failure is a cache miss and the replica renders); unset it",
            ));
        }
        let tls = tls(flags, warnings)?;
        let hosts: Vec<String> = match flags.sentinel.take() {
            Some(hosts) => hosts,
            None => env
                .get(ENV_REDIS_SENTINEL_HOSTS)
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        };
        let hosts: Vec<String> = hosts
            .into_iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        let server = flags.redis.take().or_else(|| env.get(ENV_REDIS_SERVER));
        let master = repo_env::string(
            flags.sentinelmaster.take(),
            env,
            ENV_REDIS_SENTINEL_MASTER,
            DEFAULT_SENTINEL_MASTER,
        );
        let server = match env.get(IN_CLUSTER_VARIABLE) {
            Some(_) => server.or_else(|| Some(DEFAULT_SERVER.into())),
            None => server,
        };
        let server = match (hosts.is_empty(), server) {
            (true, None) => return Ok(None),
            (true, Some(server)) => {
                let (host, port) = address(REDIS, server)?;
                Server::Single { host, port }
            }
            (false, server) => {
                if server.is_some() {
                    warnings.push("--redis (REDIS_SERVER) is ignored: --sentinel (REDIS_SENTINEL_HOSTS) names the servers".into());
                }
                let hosts = hosts
                    .into_iter()
                    .map(|h| address(SENTINEL, h))
                    .collect::<Result<_, _>>()?;
                Server::Sentinel { master, hosts }
            }
        };
        let creds = Creds::resolve(env)?;
        Ok(Some(Self {
            server,
            db,
            username: creds.username,
            password: creds.password,
            sentinel_username: creds.sentinel_username,
            sentinel_password: creds.sentinel_password,
            tls,
            compression,
            key_prefix: env.get(ENV_REDIS_KEY_PREFIX).unwrap_or_default(),
            lock_timeout,
        }))
    }
}

/// `host:port`, as go-redis takes it (IPv6 in brackets).
fn address(setting: Setting, value: String) -> Result<(String, u16), ConfigError> {
    let parsed = value.rsplit_once(':').and_then(|(host, port)| {
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']')?,
            None => host,
        };
        let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
        (!host.is_empty()).then(|| (host.to_string(), port))
    });
    parsed.ok_or(ConfigError::Choice(setting, value, "host:port"))
}

/// The TLS flags: used with `--redis-use-tls` only, as upstream; a lone certificate or key
/// is refused instead of failing at the first connection.
fn tls(flags: &mut Flags, warnings: &mut Vec<String>) -> Result<Option<RedisTls>, ConfigError> {
    let path = |p: Option<String>| p.filter(|p| !p.is_empty()).map(PathBuf::from);
    let ca = path(flags.redis_ca_certificate.take());
    let cert = path(flags.redis_client_certificate.take());
    let key = path(flags.redis_client_key.take());
    let insecure = flags.redis_insecure_skip_tls_verify.unwrap_or(false);
    if !flags.redis_use_tls.unwrap_or(false) {
        let unused = [
            ("--redis-ca-certificate", ca.is_some()),
            ("--redis-client-certificate", cert.is_some()),
            ("--redis-client-key", key.is_some()),
            ("--redis-insecure-skip-tls-verify", insecure),
        ];
        warnings.extend(
            unused
                .iter()
                .filter(|(_, given)| *given)
                .map(|(flag, _)| format!("{flag} is ignored without --redis-use-tls")),
        );
        return Ok(None);
    }
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(ConfigError::ClientKeyPair),
    };
    if insecure && ca.is_some() {
        warnings.push(
            "--redis-ca-certificate is ignored: --redis-insecure-skip-tls-verify checks nothing"
                .into(),
        );
    }
    Ok(Some(RedisTls {
        ca: ca.filter(|_| !insecure),
        client,
        insecure,
    }))
}

/// Redis credentials: from the files of `REDIS_CREDS_DIR_PATH` when it is set (only there, as
/// upstream), else from the environment. Never from flags, so never in argv.
struct Creds {
    username: Option<String>,
    password: Option<Secret>,
    sentinel_username: Option<String>,
    sentinel_password: Option<Secret>,
}

impl Creds {
    fn resolve(env: &dyn Env) -> Result<Self, ConfigError> {
        let Some(dir) = env.get(ENV_REDIS_CREDS_DIR_PATH) else {
            let get = |key| env.get(key);
            return Ok(Self {
                username: get(ENV_REDIS_USERNAME),
                password: get(ENV_REDIS_PASSWORD).map(Secret::new),
                sentinel_username: get(ENV_REDIS_SENTINEL_USERNAME),
                sentinel_password: get(ENV_REDIS_SENTINEL_PASSWORD).map(Secret::new),
            });
        };
        let dir = PathBuf::from(dir);
        std::fs::metadata(&dir).map_err(|e| creds_error(&dir, e))?;
        Ok(Self {
            password: credential(&dir, "auth")?.map(Secret::new),
            username: credential(&dir, "auth_username")?,
            sentinel_username: credential(&dir, "sentinel_username")?,
            sentinel_password: credential(&dir, "sentinel_auth")?.map(Secret::new),
        })
    }
}

/// One file of the credentials directory, trimmed; a missing or empty file is no value.
fn credential(dir: &Path, name: &str) -> Result<Option<String>, ConfigError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(creds_error(&path, e)),
    }
}

fn creds_error(path: &Path, e: std::io::Error) -> ConfigError {
    ConfigError::Credentials(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;

    fn resolve(flags: Flags, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::resolve(flags, &Map::new(env.iter().copied()))
    }

    fn redis(flags: Flags, env: &[(&str, &str)]) -> Result<Option<Redis>, ConfigError> {
        resolve(flags, env).map(|c| c.engine.redis)
    }

    #[test]
    fn no_server_no_redis() {
        assert_eq!(redis(Flags::default(), &[]).unwrap(), None);
        // Upstream's manifest always sets the password; alone it changes nothing.
        let env = [(ENV_REDIS_PASSWORD, "p"), (ENV_REDIS_COMPRESSION, "none")];
        let c = resolve(Flags::default(), &env).unwrap();
        assert_eq!((c.engine.redis, c.warnings), (None, vec![]));
    }

    #[test]
    fn in_a_cluster_without_a_server_redis_is_upstreams_default() {
        let env = [("KUBERNETES_SERVICE_HOST", "10.0.0.1")];
        let r = redis(Flags::default(), &env).unwrap().unwrap();
        assert_eq!(
            r.server,
            Server::Single {
                host: "argocd-redis".into(),
                port: 6379
            }
        );
        let env = [
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            (ENV_REDIS_SENTINEL_HOSTS, "s1:26379"),
        ];
        let r = redis(Flags::default(), &env).unwrap().unwrap();
        assert!(matches!(r.server, Server::Sentinel { .. }), "{r:?}");
    }

    #[test]
    fn upstream_defaults() {
        let r = redis(Flags::default(), &[(ENV_REDIS_SERVER, "argocd-redis:6379")])
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            Redis {
                server: Server::Single {
                    host: "argocd-redis".into(),
                    port: 6379
                },
                db: 0,
                username: None,
                password: None,
                sentinel_username: None,
                sentinel_password: None,
                tls: None,
                compression: Compression::Gzip,
                key_prefix: String::new(),
                lock_timeout: Duration::from_secs(10),
            }
        );
    }

    #[test]
    fn environment_as_upstream_reads_it() {
        let env = [
            (ENV_REDIS_SENTINEL_HOSTS, "a:26379, b:26379,,[::1]:26380"),
            (ENV_REDIS_SENTINEL_MASTER, "argocd"),
            (ENV_REDISDB, "2"),
            (ENV_REDIS_USERNAME, "user"),
            (ENV_REDIS_PASSWORD, "pw"),
            (ENV_REDIS_SENTINEL_USERNAME, "suser"),
            (ENV_REDIS_SENTINEL_PASSWORD, "spw"),
            (ENV_REDIS_COMPRESSION, "none"),
            (ENV_REDIS_RETRY_COUNT, "0"),
            (ENV_REDIS_KEY_PREFIX, "team-a|"),
            (ENV_REVISION_CACHE_LOCK_TIMEOUT, "0"),
        ];
        let r = redis(Flags::default(), &env).unwrap().unwrap();
        assert_eq!(
            r.server,
            Server::Sentinel {
                hosts: vec![
                    ("a".into(), 26379),
                    ("b".into(), 26379),
                    ("::1".into(), 26380)
                ],
                master: "argocd".into()
            }
        );
        assert_eq!(r.db, 2);
        assert_eq!(r.username.as_deref(), Some("user"));
        assert_eq!(r.password, Some(Secret::new("pw")));
        assert_eq!(r.sentinel_username.as_deref(), Some("suser"));
        assert_eq!(r.sentinel_password, Some(Secret::new("spw")));
        assert_eq!(r.compression, Compression::None);
        assert_eq!(r.key_prefix, "team-a|");
        assert_eq!(r.lock_timeout, Duration::ZERO);
    }

    #[test]
    fn flags_beat_environment_and_sentinel_beats_server() {
        let flags = Flags {
            redis: Some("flag:1".into()),
            redisdb: Some(5),
            redis_compress: Some("gzip".into()),
            revision_cache_lock_timeout: Some("30s".into()),
            ..Flags::default()
        };
        let env = [
            (ENV_REDIS_SERVER, "env:1"),
            (ENV_REDISDB, "1"),
            (ENV_REDIS_COMPRESSION, "none"),
            (ENV_REVISION_CACHE_LOCK_TIMEOUT, "1s"),
        ];
        let r = redis(flags, &env).unwrap().unwrap();
        assert_eq!(
            r.server,
            Server::Single {
                host: "flag".into(),
                port: 1
            }
        );
        assert_eq!((r.db, r.compression), (5, Compression::Gzip));
        assert_eq!(r.lock_timeout, Duration::from_secs(30));
        let flags = Flags {
            sentinel: Some(vec!["s1:26379".into(), "s2:26379".into()]),
            sentinelmaster: Some("m".into()),
            ..Flags::default()
        };
        let c = resolve(
            flags,
            &[
                (ENV_REDIS_SENTINEL_HOSTS, "env:1"),
                (ENV_REDIS_SERVER, "r:1"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.engine.redis.unwrap().server,
            Server::Sentinel {
                hosts: vec![("s1".into(), 26379), ("s2".into(), 26379)],
                master: "m".into()
            }
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("--redis (REDIS_SERVER) is ignored"));
    }

    #[test]
    fn tls_flags() {
        let flags = Flags {
            redis: Some("r:6379".into()),
            redis_use_tls: Some(true),
            redis_ca_certificate: Some("/ca.crt".into()),
            redis_client_certificate: Some("/c.crt".into()),
            redis_client_key: Some("/c.key".into()),
            ..Flags::default()
        };
        let r = redis(flags.clone(), &[]).unwrap().unwrap();
        assert_eq!(
            r.tls,
            Some(RedisTls {
                ca: Some("/ca.crt".into()),
                client: Some(("/c.crt".into(), "/c.key".into())),
                insecure: false,
            })
        );
        // Without --redis-use-tls they do nothing, as upstream, and say so.
        let plain = Flags {
            redis_use_tls: Some(false),
            ..flags.clone()
        };
        let c = resolve(plain, &[]).unwrap();
        assert_eq!(c.engine.redis.unwrap().tls, None);
        assert_eq!(
            c.warnings,
            [
                "--redis-ca-certificate is ignored without --redis-use-tls",
                "--redis-client-certificate is ignored without --redis-use-tls",
                "--redis-client-key is ignored without --redis-use-tls",
            ]
        );
        let insecure = Flags {
            redis_insecure_skip_tls_verify: Some(true),
            ..flags.clone()
        };
        let tls = redis(insecure, &[]).unwrap().unwrap().tls.unwrap();
        assert_eq!((tls.ca, tls.insecure), (None, true));
        let lone = Flags {
            redis_client_key: None,
            ..flags
        };
        assert_eq!(
            redis(lone, &[]).unwrap_err().to_string(),
            "--redis-client-certificate and --redis-client-key: give both or neither"
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (key, value, named) in [
            (ENV_REDIS_SERVER, "argocd-redis", "--redis (REDIS_SERVER)"),
            (
                ENV_REDIS_SERVER,
                "argocd-redis:http",
                "--redis (REDIS_SERVER)",
            ),
            (
                ENV_REDIS_SENTINEL_HOSTS,
                "a:1,b",
                "--sentinel (REDIS_SENTINEL_HOSTS)",
            ),
            (ENV_REDISDB, "-1", "--redisdb (REDISDB)"),
            (ENV_REDISDB, "256", "--redisdb (REDISDB)"),
            (
                ENV_REDIS_COMPRESSION,
                "zstd",
                "--redis-compress (REDIS_COMPRESSION)",
            ),
            (ENV_REDIS_RETRY_COUNT, "many", ENV_REDIS_RETRY_COUNT),
            // Upstream's retries are not honoured: asking for them is refused, not ignored.
            (ENV_REDIS_RETRY_COUNT, "3", ENV_REDIS_RETRY_COUNT),
            (
                ENV_REVISION_CACHE_LOCK_TIMEOUT,
                "soon",
                "--revision-cache-lock-timeout (ARGOCD_REVISION_CACHE_LOCK_TIMEOUT)",
            ),
        ] {
            let env = [(ENV_REDIS_SENTINEL_MASTER, "m"), (key, value)];
            let err = redis(Flags::default(), &env).unwrap_err().to_string();
            assert!(err.starts_with(named), "{key}={value}: {err}");
            // A list names the item at fault.
            let item = value.rsplit(',').next().unwrap();
            assert!(err.contains(&format!("{item:?}")), "{key}={value}: {err}");
        }
    }

    #[test]
    fn secrets_are_never_printed() {
        let env = [
            (ENV_REDIS_SERVER, "r:6379"),
            (ENV_REDIS_PASSWORD, "hunter2"),
            (ENV_REDIS_SENTINEL_PASSWORD, "hunter3"),
        ];
        let c = resolve(Flags::default(), &env).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter"), "{printed}");
        assert!(printed.contains("Secret(***)"), "{printed}");
    }

    #[test]
    fn credentials_directory_replaces_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("auth"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("sentinel_username"), " sentinel ").unwrap();
        let path = dir.path().to_str().unwrap();
        let env = [
            (ENV_REDIS_SERVER, "r:6379"),
            (ENV_REDIS_CREDS_DIR_PATH, path),
            (ENV_REDIS_USERNAME, "from-env"),
            (ENV_REDIS_SENTINEL_PASSWORD, "from-env"),
        ];
        let r = redis(Flags::default(), &env).unwrap().unwrap();
        assert_eq!(r.password, Some(Secret::new("s3cret")));
        assert_eq!(r.sentinel_username.as_deref(), Some("sentinel"));
        // Missing files are empty values; the environment is not read at all.
        assert_eq!((r.username, r.sentinel_password), (None, None));
        let gone = dir.path().join("gone");
        let env = [
            (ENV_REDIS_SERVER, "r:6379"),
            (ENV_REDIS_CREDS_DIR_PATH, gone.to_str().unwrap()),
        ];
        let err = redis(Flags::default(), &env).unwrap_err().to_string();
        assert!(err.starts_with("REDIS_CREDS_DIR_PATH: "), "{err}");
        assert!(err.contains("gone"), "{err}");
        // A file that exists but cannot be read (a directory here) stops the start.
        std::fs::create_dir(dir.path().join("auth_username")).unwrap();
        let env = [
            (ENV_REDIS_SERVER, "r:6379"),
            (ENV_REDIS_CREDS_DIR_PATH, path),
        ];
        let err = redis(Flags::default(), &env).unwrap_err().to_string();
        assert!(err.contains("auth_username"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
