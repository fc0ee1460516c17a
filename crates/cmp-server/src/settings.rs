//! Flags and environment, with upstream's names and defaults where upstream has the setting.

use std::path::PathBuf;
use std::time::Duration;

use repo_env::Env;

use crate::exec::Limits;

/// Upstream's `DefaultPluginConfigFilePath`.
pub const DEFAULT_CONFIG_DIR: &str = "/home/argocd/cmp-server/config";
/// Upstream's `DefaultPluginSockFilePath`.
pub const DEFAULT_SOCKET_DIR: &str = "/home/argocd/cmp-server/plugins";
pub const ENV_SOCKET_DIR: &str = "ARGOCD_PLUGINSOCKFILEPATH";
pub const ENV_WORK_DIR: &str = "ARGOCD_CMP_WORKDIR";
pub const ENV_EXEC_TIMEOUT: &str = "ARGOCD_EXEC_TIMEOUT";
pub const ENV_EXEC_FATAL_TIMEOUT: &str = "ARGOCD_EXEC_FATAL_TIMEOUT";
pub const ENV_GRPC_MAX_SIZE_MB: &str = "ARGOCD_GRPC_MAX_SIZE_MB";
/// Ours: stdout a command may write.
pub const ENV_MAX_OUTPUT_MB: &str = "ARGOCD_CMP_SERVER_MAX_OUTPUT_MB";
/// Ours: what one request's repository may unpack to.
pub const ENV_MAX_UNPACK_MB: &str = "ARGOCD_CMP_SERVER_MAX_UNPACK_MB";
/// Upstream's `--otlp-address`: refused when set, as no traces are exported from here.
pub const ENV_OTLP_ADDRESS: &str = "ARGOCD_CMP_SERVER_OTLP_ADDRESS";

/// The command line, as upstream's `argocd-cmp-server`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "argocd-cmp-server",
    about = "Config management plugin server: the repo-server's sidecar that renders manifests with the plugin defined in <config-dir-path>/plugin.yaml"
)]
pub struct Flags {
    /// Directory holding plugin.yaml
    #[arg(long, value_name = "DIR", default_value = DEFAULT_CONFIG_DIR)]
    pub config_dir_path: PathBuf,
    /// Log format, json or text [env: ARGOCD_CMP_SERVER_LOGFORMAT, default: json]
    #[arg(long)]
    pub logformat: Option<String>,
    /// Log level: trace, debug, info, warn or error [env: ARGOCD_CMP_SERVER_LOGLEVEL, default: info]
    #[arg(long)]
    pub loglevel: Option<String>,
}

/// Everything the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_dir: PathBuf,
    /// Where the socket is created.
    pub socket_dir: PathBuf,
    /// Emptied at start; each request unpacks into its own directory below it.
    pub work_dir: PathBuf,
    pub limits: Limits,
    /// The largest gRPC message received (upstream's `ARGOCD_GRPC_MAX_SIZE_MB`, 100).
    pub max_message: usize,
    /// The largest unpacked repository, in bytes.
    pub max_unpack: u64,
    pub log_json: bool,
    pub log_level: String,
}

impl Settings {
    pub fn resolve(flags: Flags, env: &dyn Env) -> Result<Self, String> {
        if env.get(ENV_OTLP_ADDRESS).is_some_and(|v| !v.is_empty()) {
            return Err(format!(
                "{ENV_OTLP_ADDRESS}: this sidecar exports no traces; unset it"
            ));
        }
        let log_format =
            repo_env::string(flags.logformat, env, "ARGOCD_CMP_SERVER_LOGFORMAT", "json");
        let log_json = match log_format.as_str() {
            "json" => true,
            "text" => false,
            other => return Err(format!("--logformat {other:?}: use json or text")),
        };
        let log_level = repo_env::string(flags.loglevel, env, "ARGOCD_CMP_SERVER_LOGLEVEL", "info");
        if !matches!(
            log_level.as_str(),
            "trace" | "debug" | "info" | "warn" | "error"
        ) {
            return Err(format!(
                "--loglevel {log_level:?}: use trace, debug, info, warn or error"
            ));
        }
        let work_dir = match env.get(ENV_WORK_DIR) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::temp_dir(),
        };
        Ok(Self {
            config_dir: flags.config_dir_path,
            socket_dir: env
                .get(ENV_SOCKET_DIR)
                .unwrap_or_else(|| DEFAULT_SOCKET_DIR.into())
                .into(),
            // Upstream's `GetCMPWorkDir`.
            work_dir: work_dir.join("_cmp_server"),
            limits: Limits {
                timeout: duration(env, ENV_EXEC_TIMEOUT, Duration::from_secs(90))?,
                fatal_timeout: duration(env, ENV_EXEC_FATAL_TIMEOUT, Duration::from_secs(10))?,
                max_output: megabytes(env, ENV_MAX_OUTPUT_MB, 64)? as usize,
            },
            max_message: megabytes(env, ENV_GRPC_MAX_SIZE_MB, 100)? as usize,
            max_unpack: megabytes(
                env,
                ENV_MAX_UNPACK_MB,
                repo_cmp::Limits::default().unpacked >> 20,
            )?,
            log_json,
            log_level,
        })
    }
}

fn duration(env: &dyn Env, key: &str, default: Duration) -> Result<Duration, String> {
    match env.get(key) {
        None => Ok(default),
        Some(v) => match repo_env::parse_duration(&v) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err(format!(
                "{key}={v:?}: use a positive Go duration such as 90s or 2m"
            )),
        },
    }
}

fn megabytes(env: &dyn Env, key: &str, default: u64) -> Result<u64, String> {
    let mb = match env.get(key) {
        None => default,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 && n <= 1 << 20 => n,
            _ => {
                return Err(format!(
                    "{key}={v:?}: use a whole number of MiB from 1 to 1048576"
                ))
            }
        },
    };
    Ok(mb << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use repo_env::Map;

    fn resolve(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, String> {
        let flags =
            Flags::try_parse_from(std::iter::once("argocd-cmp-server").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        Settings::resolve(flags, &Map::new(env.iter().copied()))
    }

    #[test]
    fn upstream_defaults() {
        let s = resolve(&[], &[]).unwrap();
        assert_eq!(s.config_dir, PathBuf::from(DEFAULT_CONFIG_DIR));
        assert_eq!(s.socket_dir, PathBuf::from(DEFAULT_SOCKET_DIR));
        assert_eq!(s.work_dir, std::env::temp_dir().join("_cmp_server"));
        assert_eq!(s.limits.timeout, Duration::from_secs(90));
        assert_eq!(s.limits.fatal_timeout, Duration::from_secs(10));
        assert_eq!(s.max_message, 100 << 20);
        assert_eq!(s.max_unpack, 4 << 30);
        assert!(s.log_json && s.log_level == "info");
    }

    #[test]
    fn environment_and_flags() {
        let s = resolve(
            &["--config-dir-path", "/c", "--loglevel", "debug"],
            &[
                (ENV_SOCKET_DIR, "/s"),
                (ENV_WORK_DIR, "/w"),
                (ENV_EXEC_TIMEOUT, "2m30s"),
                (ENV_MAX_OUTPUT_MB, "8"),
                (ENV_MAX_UNPACK_MB, "16"),
                ("ARGOCD_CMP_SERVER_LOGFORMAT", "text"),
                ("ARGOCD_CMP_SERVER_LOGLEVEL", "error"),
            ],
        )
        .unwrap();
        assert_eq!(s.config_dir, PathBuf::from("/c"));
        assert_eq!(s.socket_dir, PathBuf::from("/s"));
        assert_eq!(s.work_dir, PathBuf::from("/w/_cmp_server"));
        assert_eq!(s.limits.timeout, Duration::from_secs(150));
        assert_eq!(s.limits.max_output, 8 << 20);
        assert_eq!(s.max_unpack, 16 << 20);
        assert!(!s.log_json && s.log_level == "debug");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = resolve(&[], &[(ENV_EXEC_TIMEOUT, "90")]).unwrap_err();
        assert!(e.starts_with("ARGOCD_EXEC_TIMEOUT=\"90\""), "{e}");
        let e = resolve(&[], &[(ENV_MAX_OUTPUT_MB, "0")]).unwrap_err();
        assert!(e.starts_with(ENV_MAX_OUTPUT_MB), "{e}");
        assert!(resolve(&["--logformat", "xml"], &[]).is_err());
        let e = resolve(&[], &[(ENV_OTLP_ADDRESS, "collector:4317")]).unwrap_err();
        assert!(e.starts_with(ENV_OTLP_ADDRESS), "{e}");
        assert!(resolve(&[], &[(ENV_OTLP_ADDRESS, "")]).is_ok());
    }
}
