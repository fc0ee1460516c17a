//! Upstream's settings this server does not implement. An operator's existing flags, container
//! `args:` and environment must still start the server (never an "unknown argument" exit), and
//! must not be ignored silently: each one that is set is named in one warning at start.
//! docs/upstream-settings.md says the same for every upstream setting.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use repo_env::Env;

/// How a flag takes its value on the command line (pflag's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// A boolean: `--flag`, `--flag=false`.
    Switch,
    /// One value per occurrence; repeating it is allowed, as pflag allows.
    Value,
}

/// One upstream setting without an implementation here.
#[derive(Debug)]
pub struct Upstream {
    /// The flag, without `--`, if upstream has one.
    pub flag: Option<&'static str>,
    /// The environment variable, if upstream reads one.
    pub env: Option<&'static str>,
    pub takes: Takes,
    /// Why it is not implemented (ends up in the warning and `--help`).
    pub why: &'static str,
    /// Values (case-insensitive) that ask for what this server does anyway: no warning.
    pub same: &'static [&'static str],
}

const fn flag(
    name: &'static str,
    env: Option<&'static str>,
    takes: Takes,
    why: &'static str,
) -> Upstream {
    Upstream {
        flag: Some(name),
        env,
        takes,
        why,
        same: &[],
    }
}

const fn env(name: &'static str, why: &'static str) -> Upstream {
    Upstream {
        flag: None,
        env: Some(name),
        takes: Value,
        why,
        same: &[],
    }
}

const fn env_same(
    name: &'static str,
    why: &'static str,
    same: &'static [&'static str],
) -> Upstream {
    Upstream {
        flag: None,
        env: Some(name),
        takes: Value,
        why,
        same,
    }
}

use Takes::{Switch, Value};

const AZURE: &str = "Azure service-principal credentials are not implemented yet";

/// Every upstream setting that is accepted but not implemented.
pub const UNIMPLEMENTED: &[Upstream] = &[
    flag(
        "enable-builtin-git-config",
        Some("ARGOCD_REPO_SERVER_ENABLE_BUILTIN_GIT_CONFIG"),
        Switch,
        "git always runs with this server's own fixed configuration",
    ),
    env(
        "ARGOCD_HELM_INDEX_CACHE_DURATION",
        "upstream has not read it since Argo CD 2.1 either; Helm indexes are cached for --revision-cache-expiration",
    ),
    env("ARGOCD_AZURE_SERVICE_PRINCIPAL_CREDS_EXPIRATION_DURATION", AZURE),
    env_same(
        "ARGOCD_ENABLE_GRPC_TIME_HISTOGRAM",
        "grpc_server_handling_seconds is always exported",
        &["true"],
    ),
    env(
        "ARGOCD_GRPC_KEEP_ALIVE_MIN",
        "the gRPC server has no keepalive enforcement policy to tune",
    ),
    env(
        "ARGOCD_LOG_FORMAT_TIMESTAMP",
        "log times are always RFC 3339, logrus' default",
    ),
    env(
        "ARGOCD_LOG_FORMAT_ENABLE_FULL_TIMESTAMP",
        "log times are always RFC 3339, logrus' default",
    ),
    env(
        "ARGOCD_ENABLE_PROFILER_FILE_PATH",
        "there is no Go profiler (pprof) endpoint",
    ),
    env(
        "ARGOCD_ASK_PASS_SOCK",
        "git gets credentials from a per-call askpass helper reading a private 0600 file, not from a socket",
    ),
    env_same(
        "ARGOCD_BINARY_NAME",
        "this binary is only the repo-server",
        &["argocd-repo-server"],
    ),
    env(
        "GRPC_ENABLE_TXT_SERVICE_CONFIG",
        "a grpc-go client option; this server makes no gRPC client calls that resolve DNS",
    ),
    env(
        "ARGOCD_REPO_SERVER_LISTEN_METRICS_ADDRESS",
        "upstream's manifest sets this name, which neither upstream's binary nor this one reads; use ARGOCD_REPO_SERVER_METRICS_LISTEN_ADDRESS",
    ),
];

impl Upstream {
    /// `--flag` and/or the environment variable, as the warning names them.
    pub fn names(&self) -> String {
        let flag = self.flag.map(|f| format!("--{f}"));
        [flag.as_deref(), self.env]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / ")
    }

    fn same(&self, value: &str) -> bool {
        self.same.iter().any(|s| s.eq_ignore_ascii_case(value))
    }
}

/// Heading of these flags in `--help` (and in docs/flags.md).
pub const HEADING: &str = "Accepted for compatibility, not implemented";

/// The unimplemented flags given on the command line (names only: values may be secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unimplemented {
    given: Vec<&'static str>,
}

impl Unimplemented {
    /// One warning per setting given by flag or (non-empty) environment variable.
    pub fn warnings(&self, env: &dyn Env) -> Vec<String> {
        UNIMPLEMENTED
            .iter()
            .filter(|s| {
                s.flag.is_some_and(|f| self.given.contains(&f))
                    || s.env.and_then(|e| env.get(e)).is_some_and(|v| !s.same(&v))
            })
            .map(|s| {
                format!(
                    "upstream setting {} is not implemented here and is ignored: {}",
                    s.names(),
                    s.why
                )
            })
            .collect()
    }
}

impl clap::FromArgMatches for Unimplemented {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let given = UNIMPLEMENTED
            .iter()
            .filter_map(|s| Some((s.flag?, s)))
            .filter(|(f, _)| matches.value_source(f) == Some(ValueSource::CommandLine))
            .filter(|(f, s)| {
                matches
                    .get_many::<String>(f)
                    .into_iter()
                    .flatten()
                    .any(|v| !s.same(v))
            })
            .map(|(f, _)| f)
            .collect();
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Unimplemented {
    fn augment_args(command: Command) -> Command {
        UNIMPLEMENTED
            .iter()
            .filter_map(|s| Some((s.flag?, s)))
            .fold(command, |command, (name, s)| {
                let env = s.env.map(|e| format!(" [env: {e}]")).unwrap_or_default();
                let arg = Arg::new(name)
                    .long(name)
                    .help(format!("Not implemented here: {}{env}", s.why))
                    .help_heading(HEADING)
                    .action(ArgAction::Append);
                command.arg(match s.takes {
                    Switch => arg
                        .num_args(0..=1)
                        .default_missing_value("true")
                        .value_name("BOOL"),
                    // pflag takes the next argument as the value, whatever it looks like.
                    Value => arg
                        .num_args(1)
                        .allow_hyphen_values(true)
                        .value_name("VALUE"),
                })
            })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use repo_env::Map;

    use crate::config::{Config, Flags};

    #[derive(Debug, Parser)]
    struct Args {
        #[command(flatten)]
        flags: Flags,
    }

    fn parse(args: &[&str]) -> Flags {
        Args::try_parse_from(["argocd-repo-server"].iter().chain(args))
            .unwrap()
            .flags
    }

    #[test]
    fn flags_do_not_clash() {
        Args::command().debug_assert();
    }

    #[test]
    fn each_setting_given_is_named_once() {
        let flags = parse(&[
            "--enable-builtin-git-config",
            // Implemented, but without --otlp-address unused: no warning, and never a value.
            "--otlp-headers=authorization=Bearer s3cret",
            "--plugin-tar-exclude",
            "a/*",
            "--plugin-tar-exclude",
            "b/*",
            "--plugin-use-manifest-generate-paths=false",
            "--port",
            "9999",
        ]);
        assert_eq!(flags.port, Some(9999));
        let env = Map::new([
            // The same setting by flag and variable: one warning.
            ("ARGOCD_REPO_SERVER_ENABLE_BUILTIN_GIT_CONFIG", "true"),
            ("ARGOCD_GRPC_KEEP_ALIVE_MIN", "s3cret"),
            // Implemented: no warning.
            ("ARGOCD_REPO_SERVER_PLUGIN_TAR_EXCLUSIONS", "a/*"),
            ("ARGOCD_PLUGINSOCKFILEPATH", "/s3cret"),
            ("ARGOCD_REPO_SERVER_OTLP_SAMPLE_RATIO", ""),
            // Values that ask for what this server does anyway.
            ("ARGOCD_ENABLE_GRPC_TIME_HISTOGRAM", "true"),
        ]);
        let config = Config::resolve(flags, &env).unwrap();
        let names: Vec<&str> = config
            .warnings
            .iter()
            .map(|w| {
                w.strip_prefix("upstream setting ")
                    .and_then(|w| w.split_once(" is not implemented here and is ignored: "))
                    .unwrap_or_else(|| panic!("{w}"))
                    .0
            })
            .collect();
        assert_eq!(
            names,
            [
                "--enable-builtin-git-config / ARGOCD_REPO_SERVER_ENABLE_BUILTIN_GIT_CONFIG",
                "ARGOCD_GRPC_KEEP_ALIVE_MIN",
            ]
        );
        assert!(
            config.warnings.iter().all(|w| !w.contains("s3cret")),
            "a value was logged: {:?}",
            config.warnings
        );
    }

    #[test]
    fn values_that_look_like_flags_are_values() {
        let flags = parse(&[
            "--otlp-attrs",
            "-x:y",
            "--plugin-use-manifest-generate-paths",
            "--enable-builtin-git-config",
            "--port",
            "1",
        ]);
        assert_eq!(flags.port, Some(1));
        assert_eq!(flags.plugins.plugin_use_manifest_generate_paths, Some(true));
        let warnings = Config::resolve(flags, &Map::default()).unwrap().warnings;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn harmless_flag_values_are_quiet() {
        let flags = parse(&["--enable-builtin-git-config=false"]);
        assert_eq!(
            Config::resolve(flags, &Map::default())
                .unwrap()
                .warnings
                .len(),
            1
        );
        let flags = parse(&[]);
        assert_eq!(
            Config::resolve(flags, &Map::default())
                .unwrap()
                .warnings
                .len(),
            0
        );
    }
}
