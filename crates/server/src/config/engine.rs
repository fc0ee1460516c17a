//! Settings of the repository engine: caches, git, tools and what a snapshot may hold, with
//! upstream's defaults, units and syntax.

use std::path::PathBuf;
use std::time::Duration;

use repo_env::Env;

use super::*;

pub const DEFAULT_REPO_CACHE_DIR: &str = "/tmp/argocd-repo-server";

/// Upstream's `ARGOCD_EXEC_FATAL_TIMEOUT`.
pub const DEFAULT_EXEC_FATAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the repository engine (git cache, manifest cache, tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub repo_cache_dir: PathBuf,
    pub repo_cache_bytes: u64,
    pub manifest_cache_bytes: usize,
    pub allow_file: bool,
    pub parallelism: usize,
    /// `ARGOCD_EXEC_TIMEOUT`: a tool (git, helm, kustomize) is stopped after this long.
    pub exec_timeout: Duration,
    /// `ARGOCD_EXEC_FATAL_TIMEOUT`: how long after `exec_timeout` a tool that ignored the
    /// stop signal is killed; zero never kills (upstream's `util/exec`).
    pub exec_fatal_timeout: Duration,
    pub pause_after_failures: u32,
    pub pause_for: Duration,
    pub pause_for_requests: u32,
    pub manifests: Manifests,
    pub expiry: Expiry,
    pub git: Git,
    /// Helm repositories and OCI registries.
    pub fetch: Fetch,
    /// GnuPG verification of source integrity.
    pub gpg: Gpg,
    /// The shared cache, when a Redis server or Sentinel is named.
    pub redis: Option<Redis>,
    /// Config management plugin sidecars.
    pub plugins: Plugins,
}

/// GnuPG verification (upstream's `ARGOCD_GPG_*` settings and their defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpg {
    /// `ARGOCD_GPG_ENABLED`: off only for `false`/`no` (any case); policies are then not
    /// checked, as upstream.
    pub enabled: bool,
    /// `ARGOCD_GPG_DATA_PATH`: the mounted `argocd-gpg-keys-cm`, one public key per file.
    pub data_path: PathBuf,
    /// `ARGOCD_GNUPGHOME`: a writable directory the keyring is built in.
    pub gnupg_home: PathBuf,
}

impl Default for Gpg {
    fn default() -> Self {
        Self {
            enabled: true,
            data_path: PathBuf::from(repo_git::DEFAULT_GPG_DATA_PATH),
            gnupg_home: PathBuf::from(repo_git::DEFAULT_GNUPGHOME),
        }
    }
}

impl Gpg {
    fn resolve(env: &dyn Env) -> Self {
        let path = |key, default| PathBuf::from(repo_env::string(None, env, key, default));
        Self {
            // Upstream's `IsGPGEnabled`: anything but `false`/`no` keeps it on.
            enabled: !env
                .get(ENV_GPG_ENABLED)
                .is_some_and(|v| v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("no")),
            data_path: path(ENV_GPG_DATA_PATH, repo_git::DEFAULT_GPG_DATA_PATH),
            gnupg_home: path(ENV_GNUPGHOME, repo_git::DEFAULT_GNUPGHOME),
        }
    }
}

/// What a repository snapshot or a streamed archive may contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifests {
    /// `--max-combined-directory-manifests-size`: the manifest files of one directory-type
    /// app may not add up to more bytes than this.
    pub max_combined_directory_bytes: u64,
    /// `--streamed-manifest-max-tar-size`: bytes of a streamed (`GenerateManifestWithFiles`)
    /// archive as sent.
    pub streamed_max_tar_bytes: u64,
    /// `--streamed-manifest-max-extracted-size`: bytes of that archive once unpacked.
    pub streamed_max_extracted_bytes: u64,
    /// `--allow-oob-symlinks`: symlinks that point outside the repository are tolerated.
    pub allow_out_of_bounds_symlinks: bool,
    /// `--include-hidden-directories`: directories starting with `.` are listed and read.
    pub include_hidden_directories: bool,
}

impl Default for Manifests {
    fn default() -> Self {
        Self {
            max_combined_directory_bytes: 10_000_000,
            streamed_max_tar_bytes: 100_000_000,
            streamed_max_extracted_bytes: 1_000_000_000,
            allow_out_of_bounds_symlinks: false,
            include_hidden_directories: false,
        }
    }
}

/// How long cached answers live (upstream's `reposerver/cache` TTLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// `--repo-cache-expiration`: manifests, app details, app lists, revision metadata,
    /// git files and directories.
    pub repo: Duration,
    /// `--revision-cache-expiration` (`ARGOCD_RECONCILIATION_TIMEOUT`): the refs of a
    /// repository (ls-remote) and resolved revisions.
    pub revision: Duration,
    /// `--default-cache-expiration`: anything cached without its own TTL.
    pub default: Duration,
}

impl Default for Expiry {
    fn default() -> Self {
        Self {
            repo: Duration::from_secs(24 * 3600),
            revision: Duration::from_secs(180),
            default: Duration::from_secs(24 * 3600),
        }
    }
}

/// Remote git operations (upstream's `util/git` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Git {
    /// `ARGOCD_GIT_REQUEST_TIMEOUT`: one HTTP request to a git server (ls-remote).
    pub request_timeout: Duration,
    /// `ARGOCD_GIT_ATTEMPTS_COUNT`: tries of a remote operation, at least 1.
    pub attempts: u32,
    /// `ARGOCD_GIT_RETRY_DURATION`: the wait before the first retry.
    pub retry_wait: Duration,
    /// `ARGOCD_GIT_RETRY_MAX_DURATION`: the longest wait between retries.
    pub retry_max_wait: Duration,
    /// `ARGOCD_GIT_RETRY_FACTOR`: each wait is the previous one times this.
    pub retry_factor: u64,
    /// `ARGOCD_GIT_LS_REMOTE_PARALLELISM_LIMIT`: concurrent ls-remote calls; 0 = unlimited.
    pub ls_remote_parallelism: usize,
    /// `ARGOCD_GIT_MODULES_ENABLED` (`reposerver.enable.git.submodule`): snapshots include
    /// submodules at the recorded commits.
    pub submodules: bool,
    /// The `ssh_known_hosts` file git over ssh checks hosts against: `SSH_KNOWN_HOSTS`, else
    /// `ARGOCD_SSH_DATA_PATH/ssh_known_hosts` (upstream's), re-read on every connection.
    pub known_hosts: PathBuf,
    /// `ARGOCD_GITHUB_APP_CREDS_EXPIRATION_DURATION` (whole minutes, as upstream): the longest
    /// use of a GitHub App installation token.
    pub github_app_creds_expiration: Duration,
}

impl Default for Git {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(15),
            attempts: 1,
            retry_wait: Duration::from_millis(250),
            retry_max_wait: Duration::from_secs(5),
            retry_factor: 2,
            ls_remote_parallelism: 0,
            submodules: true,
            known_hosts: PathBuf::from("/app/config/ssh/ssh_known_hosts"),
            github_app_creds_expiration: repo_git::DEFAULT_GITHUB_APP_CREDS_EXPIRATION,
        }
    }
}

impl Engine {
    pub(super) fn resolve(
        flags: &mut Flags,
        env: &dyn Env,
        warnings: &mut Vec<String>,
    ) -> Result<Self, ConfigError> {
        let manifests = Manifests::default();
        let manifests = Manifests {
            max_combined_directory_bytes: size(
                MAX_COMBINED_MANIFESTS_SIZE,
                flags.max_combined_directory_manifests_size.take(),
                env,
                manifests.max_combined_directory_bytes,
            )?,
            streamed_max_tar_bytes: size(
                STREAMED_MAX_TAR_SIZE,
                flags.streamed_manifest_max_tar_size.take(),
                env,
                manifests.streamed_max_tar_bytes,
            )?,
            streamed_max_extracted_bytes: size(
                STREAMED_MAX_EXTRACTED_SIZE,
                flags.streamed_manifest_max_extracted_size.take(),
                env,
                manifests.streamed_max_extracted_bytes,
            )?,
            allow_out_of_bounds_symlinks: repo_env::boolean(
                flags.allow_oob_symlinks,
                env,
                ENV_ALLOW_OOB_SYMLINKS,
                false,
            ),
            include_hidden_directories: repo_env::boolean(
                flags.include_hidden_directories,
                env,
                ENV_INCLUDE_HIDDEN_DIRECTORIES,
                false,
            ),
        };
        let expiry = Expiry::default();
        let expiry = Expiry {
            repo: duration(
                REPO_CACHE_EXPIRATION,
                flags.repo_cache_expiration.take(),
                env,
                expiry.repo,
            )?,
            revision: duration(
                REVISION_CACHE_EXPIRATION,
                flags.revision_cache_expiration.take(),
                env,
                expiry.revision,
            )?,
            default: duration(
                DEFAULT_CACHE_EXPIRATION,
                flags.default_cache_expiration.take(),
                env,
                expiry.default,
            )?,
        };
        let git = Git::default();
        let git = Git {
            request_timeout: duration(
                env_only(ENV_GIT_REQUEST_TIMEOUT),
                None,
                env,
                git.request_timeout,
            )?,
            // Upstream: any whole number, below 1 meaning 1.
            attempts: number::<i64>(env_only(ENV_GIT_ATTEMPTS), None, env, 1)?
                .clamp(1, i64::from(u32::MAX)) as u32,
            retry_wait: duration(env_only(ENV_GIT_RETRY_DURATION), None, env, git.retry_wait)?,
            retry_max_wait: duration(
                env_only(ENV_GIT_RETRY_MAX_DURATION),
                None,
                env,
                git.retry_max_wait,
            )?,
            retry_factor: number(env_only(ENV_GIT_RETRY_FACTOR), None, env, git.retry_factor)?,
            ls_remote_parallelism: number(
                env_only(ENV_GIT_LS_REMOTE_PARALLELISM),
                None,
                env,
                git.ls_remote_parallelism,
            )?,
            submodules: repo_env::boolean(None, env, ENV_GIT_MODULES_ENABLED, true),
            known_hosts: match repo_env::string(None, env, ENV_SSH_KNOWN_HOSTS, "") {
                file if !file.is_empty() => PathBuf::from(file),
                _ => PathBuf::from(repo_env::string(
                    None,
                    env,
                    ENV_SSH_DATA_PATH,
                    "/app/config/ssh",
                ))
                .join("ssh_known_hosts"),
            },
            github_app_creds_expiration: Duration::from_secs(
                number::<u64>(
                    env_only(ENV_GITHUB_APP_CREDS_EXPIRATION),
                    None,
                    env,
                    git.github_app_creds_expiration.as_secs() / 60,
                )?
                .saturating_mul(60),
            ),
        };
        let fetch = Fetch::resolve(flags, env, expiry.revision)?;
        let redis = Redis::resolve(flags, env, warnings)?;
        let plugins = Plugins::resolve(std::mem::take(&mut flags.plugins), env)?;
        Ok(Self {
            repo_cache_dir: PathBuf::from(repo_env::string(
                flags.repo_cache_dir.take(),
                env,
                ENV_REPO_CACHE_DIR,
                DEFAULT_REPO_CACHE_DIR,
            )),
            repo_cache_bytes: number(REPO_CACHE_SIZE, flags.repo_cache_size_mb, env, 10240u64)?
                * 1024
                * 1024,
            manifest_cache_bytes: number(
                MANIFEST_CACHE_SIZE,
                flags.manifest_cache_size_mb,
                env,
                256usize,
            )? * 1024
                * 1024,
            allow_file: repo_env::boolean(flags.allow_file_repos, env, ENV_ALLOW_FILE_REPOS, false),
            parallelism: number(PARALLELISM, flags.parallelismlimit, env, 0)?,
            // Upstream reads both with Go's duration syntax only.
            exec_timeout: go_duration(ENV_EXEC_TIMEOUT, env, Duration::from_secs(90))?,
            exec_fatal_timeout: go_duration(
                ENV_EXEC_FATAL_TIMEOUT,
                env,
                DEFAULT_EXEC_FATAL_TIMEOUT,
            )?,
            pause_after_failures: number(env_only(ENV_PAUSE_AFTER), None, env, 3)?,
            pause_for: Duration::from_secs(
                60 * number::<u64>(env_only(ENV_PAUSE_MINUTES), None, env, 60)?,
            ),
            pause_for_requests: number(env_only(ENV_PAUSE_REQUESTS), None, env, 0)?,
            manifests,
            expiry,
            git,
            fetch,
            gpg: Gpg::resolve(env),
            redis,
            plugins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;

    fn engine(flags: Flags, env: &[(&str, &str)]) -> Result<Engine, ConfigError> {
        Config::resolve(flags, &Map::new(env.iter().copied())).map(|c| c.engine)
    }

    #[test]
    fn github_app_token_lifetime_is_in_minutes() {
        let minutes = |v: &str| {
            engine(Flags::default(), &[(ENV_GITHUB_APP_CREDS_EXPIRATION, v)])
                .map(|e| e.git.github_app_creds_expiration)
        };
        let default = engine(Flags::default(), &[]).unwrap();
        assert_eq!(
            default.git.github_app_creds_expiration,
            Duration::from_secs(3600)
        );
        assert_eq!(minutes("5").unwrap(), Duration::from_secs(300));
        assert_eq!(minutes("0").unwrap(), Duration::ZERO);
        assert_eq!(
            minutes(&u64::MAX.to_string()).unwrap(),
            Duration::from_secs(u64::MAX)
        );
        assert!(minutes("1h").is_err());
    }

    #[test]
    fn upstream_defaults() {
        let e = engine(Flags::default(), &[]).unwrap();
        assert_eq!(e.manifests, Manifests::default());
        assert_eq!(e.manifests.max_combined_directory_bytes, 10_000_000);
        assert_eq!(e.manifests.streamed_max_tar_bytes, 100_000_000);
        assert_eq!(e.manifests.streamed_max_extracted_bytes, 1_000_000_000);
        assert!(!e.manifests.allow_out_of_bounds_symlinks);
        assert!(!e.manifests.include_hidden_directories);
        assert_eq!(e.expiry.repo, Duration::from_secs(86_400));
        assert_eq!(e.expiry.revision, Duration::from_secs(180));
        assert_eq!(e.expiry.default, Duration::from_secs(86_400));
        assert_eq!(e.git, Git::default());
        assert_eq!(e.git.request_timeout, Duration::from_secs(15));
        assert_eq!((e.git.attempts, e.git.retry_factor), (1, 2));
        assert_eq!(e.git.retry_wait, Duration::from_millis(250));
        assert_eq!(e.git.retry_max_wait, Duration::from_secs(5));
        assert_eq!(e.git.ls_remote_parallelism, 0);
        assert_eq!(e.exec_fatal_timeout, Duration::from_secs(10));
    }

    #[test]
    fn environment_as_upstream_reads_it() {
        let env = [
            (ENV_MAX_COMBINED_MANIFESTS_SIZE, "1Mi"),
            (ENV_STREAMED_MAX_TAR_SIZE, "5M"),
            (ENV_STREAMED_MAX_EXTRACTED_SIZE, "2G"),
            (ENV_ALLOW_OOB_SYMLINKS, "true"),
            (ENV_INCLUDE_HIDDEN_DIRECTORIES, "TRUE"),
            (ENV_REPO_CACHE_EXPIRATION, "7d"),
            (ENV_REVISION_CACHE_EXPIRATION, "90s"),
            (ENV_DEFAULT_CACHE_EXPIRATION, "1h30m"),
            (ENV_GIT_REQUEST_TIMEOUT, "1m"),
            (ENV_GIT_ATTEMPTS, "4"),
            (ENV_GIT_RETRY_DURATION, "1s"),
            (ENV_GIT_RETRY_MAX_DURATION, "10s"),
            (ENV_GIT_RETRY_FACTOR, "3"),
            (ENV_GIT_LS_REMOTE_PARALLELISM, "8"),
            (ENV_GIT_MODULES_ENABLED, "false"),
            (ENV_SSH_DATA_PATH, "/keys"),
            (ENV_EXEC_FATAL_TIMEOUT, "0"),
            (ENV_GITHUB_APP_CREDS_EXPIRATION, "15"),
        ];
        let e = engine(Flags::default(), &env).unwrap();
        assert_eq!(
            e.manifests,
            Manifests {
                max_combined_directory_bytes: 1 << 20,
                streamed_max_tar_bytes: 5_000_000,
                streamed_max_extracted_bytes: 2_000_000_000,
                allow_out_of_bounds_symlinks: true,
                include_hidden_directories: true,
            }
        );
        assert_eq!(
            e.expiry,
            Expiry {
                repo: Duration::from_secs(7 * 86_400),
                revision: Duration::from_secs(90),
                default: Duration::from_secs(5400),
            }
        );
        assert_eq!(
            e.git,
            Git {
                request_timeout: Duration::from_secs(60),
                attempts: 4,
                retry_wait: Duration::from_secs(1),
                retry_max_wait: Duration::from_secs(10),
                retry_factor: 3,
                ls_remote_parallelism: 8,
                submodules: false,
                known_hosts: PathBuf::from("/keys/ssh_known_hosts"),
                github_app_creds_expiration: Duration::from_secs(15 * 60),
            }
        );
        assert_eq!(e.exec_fatal_timeout, Duration::ZERO);
    }

    #[test]
    fn gpg_as_upstream_reads_it() {
        let e = engine(Flags::default(), &[]).unwrap();
        assert_eq!(e.gpg, Gpg::default());
        assert!(e.gpg.enabled);
        assert_eq!(e.gpg.data_path, PathBuf::from("/app/config/gpg/source"));
        assert_eq!(e.gpg.gnupg_home, PathBuf::from("/app/config/gpg/keys"));
        for off in ["false", "NO", "False", "no"] {
            let e = engine(Flags::default(), &[(ENV_GPG_ENABLED, off)]).unwrap();
            assert!(!e.gpg.enabled, "{off}");
        }
        // Upstream turns it off for these two words only.
        for on in ["true", "0", "off", "", " false"] {
            let e = engine(Flags::default(), &[(ENV_GPG_ENABLED, on)]).unwrap();
            assert!(e.gpg.enabled, "{on:?}");
        }
        let e = engine(
            Flags::default(),
            &[(ENV_GPG_DATA_PATH, "/keys/cm"), (ENV_GNUPGHOME, "/ring")],
        )
        .unwrap();
        assert_eq!(
            e.gpg,
            Gpg {
                enabled: true,
                data_path: PathBuf::from("/keys/cm"),
                gnupg_home: PathBuf::from("/ring"),
            }
        );
    }

    #[test]
    fn attempts_below_one_mean_one() {
        for value in ["0", "-3"] {
            let e = engine(Flags::default(), &[(ENV_GIT_ATTEMPTS, value)]).unwrap();
            assert_eq!(e.git.attempts, 1, "{value}");
        }
    }

    #[test]
    fn flags_beat_environment() {
        let flags = Flags {
            max_combined_directory_manifests_size: Some("2k".into()),
            streamed_manifest_max_tar_size: Some("1Ki".into()),
            streamed_manifest_max_extracted_size: Some("3k".into()),
            allow_oob_symlinks: Some(false),
            include_hidden_directories: Some(false),
            repo_cache_expiration: Some("1h".into()),
            revision_cache_expiration: Some("0".into()),
            default_cache_expiration: Some("2m".into()),
            ..Flags::default()
        };
        let env = [
            (ENV_MAX_COMBINED_MANIFESTS_SIZE, "1M"),
            (ENV_STREAMED_MAX_TAR_SIZE, "1M"),
            (ENV_STREAMED_MAX_EXTRACTED_SIZE, "1M"),
            (ENV_ALLOW_OOB_SYMLINKS, "true"),
            (ENV_INCLUDE_HIDDEN_DIRECTORIES, "true"),
            (ENV_REPO_CACHE_EXPIRATION, "5h"),
            (ENV_REVISION_CACHE_EXPIRATION, "5h"),
            (ENV_DEFAULT_CACHE_EXPIRATION, "5h"),
        ];
        let e = engine(flags, &env).unwrap();
        assert_eq!(
            e.manifests,
            Manifests {
                max_combined_directory_bytes: 2000,
                streamed_max_tar_bytes: 1024,
                streamed_max_extracted_bytes: 3000,
                allow_out_of_bounds_symlinks: false,
                include_hidden_directories: false,
            }
        );
        assert_eq!(
            e.expiry,
            Expiry {
                repo: Duration::from_secs(3600),
                revision: Duration::ZERO,
                default: Duration::from_secs(120),
            }
        );
    }

    #[test]
    fn bad_values_name_the_flag_and_variable() {
        let flag = Flags {
            max_combined_directory_manifests_size: Some("10MB".into()),
            ..Flags::default()
        };
        let err = engine(flag, &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "--max-combined-directory-manifests-size (ARGOCD_REPO_SERVER_MAX_COMBINED_DIRECTORY_MANIFESTS_SIZE): \"10MB\" is not a size (use e.g. 10M, 1G or 512Mi)"
        );
        // Flags take Go's duration syntax only, as cobra's DurationVar does.
        let flag = Flags {
            repo_cache_expiration: Some("7d".into()),
            ..Flags::default()
        };
        let err = engine(flag, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("--repo-cache-expiration (ARGOCD_REPO_CACHE_EXPIRATION): \"7d\""),
            "{err}"
        );
        for (key, value, named) in [
            (
                ENV_STREAMED_MAX_TAR_SIZE,
                "-1M",
                "--streamed-manifest-max-tar-size",
            ),
            (
                ENV_STREAMED_MAX_EXTRACTED_SIZE,
                "lots",
                "--streamed-manifest-max-extracted-size",
            ),
            (
                ENV_REVISION_CACHE_EXPIRATION,
                "soon",
                "--revision-cache-expiration",
            ),
            (
                ENV_DEFAULT_CACHE_EXPIRATION,
                "-1s",
                "--default-cache-expiration",
            ),
            (ENV_GIT_REQUEST_TIMEOUT, "15", ENV_GIT_REQUEST_TIMEOUT),
            (ENV_GIT_ATTEMPTS, "three", ENV_GIT_ATTEMPTS),
            (ENV_GIT_RETRY_FACTOR, "-2", ENV_GIT_RETRY_FACTOR),
            (
                ENV_GIT_LS_REMOTE_PARALLELISM,
                "x",
                ENV_GIT_LS_REMOTE_PARALLELISM,
            ),
            // Upstream's util/exec reads Go durations only.
            (ENV_EXEC_FATAL_TIMEOUT, "1d", ENV_EXEC_FATAL_TIMEOUT),
        ] {
            let err = engine(Flags::default(), &[(key, value)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(named) && err.contains(key),
                "{key}={value}: {err}"
            );
        }
    }

    #[test]
    fn existing_settings_keep_working() {
        let e = engine(Flags::default(), &[]).unwrap();
        assert_eq!(e.repo_cache_dir, PathBuf::from(DEFAULT_REPO_CACHE_DIR));
        assert_eq!(
            (e.repo_cache_bytes, e.manifest_cache_bytes),
            (10240 << 20, 256 << 20)
        );
        let env = [
            (ENV_REPO_CACHE_SIZE_MB, "1"),
            (ENV_MANIFEST_CACHE_SIZE_MB, "2"),
            (ENV_PAUSE_AFTER, "5"),
            (ENV_PAUSE_MINUTES, "2"),
            (ENV_PAUSE_REQUESTS, "7"),
        ];
        let e = engine(Flags::default(), &env).unwrap();
        assert_eq!(
            (e.repo_cache_bytes, e.manifest_cache_bytes),
            (1 << 20, 2 << 20)
        );
        assert_eq!(
            (e.pause_after_failures, e.pause_for, e.pause_for_requests),
            (5, Duration::from_secs(120), 7)
        );
    }
}
