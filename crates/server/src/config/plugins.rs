//! Config management plugin settings, the repo-server's side: upstream's
//! `--plugin-tar-exclude`, `--plugin-use-manifest-generate-paths`, `ARGOCD_PLUGINSOCKFILEPATH`
//! and `ARGOCD_CMP_CHUNK_SIZE`, read as upstream reads them.

use std::path::PathBuf;

use repo_env::Env;

use super::{ConfigError, Setting};

const ENV_TAR_EXCLUSIONS: &str = "ARGOCD_REPO_SERVER_PLUGIN_TAR_EXCLUSIONS";
const ENV_USE_GENERATE_PATHS: &str = "ARGOCD_REPO_SERVER_PLUGIN_USE_MANIFEST_GENERATE_PATHS";
const ENV_SOCKET_DIR: &str = "ARGOCD_PLUGINSOCKFILEPATH";
const ENV_CHUNK_SIZE: &str = "ARGOCD_CMP_CHUNK_SIZE";

const TAR_EXCLUDE: Setting = super::both("--plugin-tar-exclude", ENV_TAR_EXCLUSIONS);

/// The `--plugin-*` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PluginFlags {
    /// Glob (Go filepath.Match syntax) of files kept out of the archive sent to config management plugins, relative to the sent directory; repeatable, the variable ';'-separated [env: ARGOCD_REPO_SERVER_PLUGIN_TAR_EXCLUSIONS]
    #[arg(long, value_name = "GLOB", action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub plugin_tar_exclude: Vec<String>,
    /// Send plugins only the directory holding the app and the paths of its argocd.argoproj.io/manifest-generate-paths annotation, not the whole repository [env: ARGOCD_REPO_SERVER_PLUGIN_USE_MANIFEST_GENERATE_PATHS] [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub plugin_use_manifest_generate_paths: Option<bool>,
}

/// Where the plugin sidecars' sockets are and what they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugins {
    /// `ARGOCD_PLUGINSOCKFILEPATH`: one `<name>.sock` per sidecar.
    pub socket_dir: PathBuf,
    pub tar_exclude: Vec<String>,
    pub use_generate_paths: bool,
    /// `ARGOCD_CMP_CHUNK_SIZE`: archive bytes per message.
    pub chunk_size: usize,
}

impl Default for Plugins {
    fn default() -> Self {
        Self {
            socket_dir: PathBuf::from(repo_cmp::DEFAULT_SOCKET_DIR),
            tar_exclude: Vec::new(),
            use_generate_paths: false,
            chunk_size: repo_cmp::DEFAULT_CHUNK_SIZE,
        }
    }
}

impl Plugins {
    /// Flags first, then the variables (the exclusions `;`-separated and trimmed, as
    /// upstream's `StringsFromEnv`). A glob that does not parse stops the start.
    pub(super) fn resolve(flags: PluginFlags, env: &dyn Env) -> Result<Self, ConfigError> {
        let tar_exclude = match flags.plugin_tar_exclude.is_empty() {
            false => flags.plugin_tar_exclude,
            true => env
                .get(ENV_TAR_EXCLUSIONS)
                .filter(|v| !v.is_empty())
                .map(|v| v.split(';').map(|g| g.trim().to_string()).collect())
                .unwrap_or_default(),
        };
        if let Some(bad) = tar_exclude
            .iter()
            .find(|g| repo_render::filepath_glob(g).is_err())
        {
            return Err(ConfigError::Choice(
                TAR_EXCLUDE,
                bad.clone(),
                "a glob in Go's filepath.Match syntax",
            ));
        }
        let socket_dir = repo_cmp::Sockets::from_env(env.get(ENV_SOCKET_DIR).as_deref());
        Ok(Self {
            socket_dir: socket_dir.dir().to_path_buf(),
            tar_exclude,
            use_generate_paths: repo_env::boolean(
                flags.plugin_use_manifest_generate_paths,
                env,
                ENV_USE_GENERATE_PATHS,
                false,
            ),
            chunk_size: repo_cmp::chunk_size(env.get(ENV_CHUNK_SIZE).as_deref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;

    fn resolve(flags: PluginFlags, env: &[(&str, &str)]) -> Result<Plugins, ConfigError> {
        Plugins::resolve(flags, &Map::new(env.iter().copied()))
    }

    #[test]
    fn defaults_are_upstreams() {
        assert_eq!(
            resolve(PluginFlags::default(), &[]).unwrap(),
            Plugins::default()
        );
    }

    #[test]
    fn flags_win_over_variables() {
        let env = [
            (ENV_TAR_EXCLUSIONS, " a/* ; *.bin"),
            (ENV_USE_GENERATE_PATHS, "true"),
            (ENV_SOCKET_DIR, "/plugins"),
            (ENV_CHUNK_SIZE, "4096"),
        ];
        let from_env = resolve(PluginFlags::default(), &env).unwrap();
        assert_eq!(from_env.tar_exclude, ["a/*", "*.bin"]);
        assert!(from_env.use_generate_paths);
        assert_eq!(from_env.socket_dir, PathBuf::from("/plugins"));
        assert_eq!(from_env.chunk_size, 4096);
        let flags = PluginFlags {
            plugin_tar_exclude: vec!["x".into()],
            plugin_use_manifest_generate_paths: Some(false),
        };
        let from_flags = resolve(flags, &env).unwrap();
        assert_eq!(from_flags.tar_exclude, ["x"]);
        assert!(!from_flags.use_generate_paths);
    }

    #[test]
    fn a_bad_glob_stops_the_start_naming_the_flag() {
        let flags = PluginFlags {
            plugin_tar_exclude: vec!["[".into()],
            ..Default::default()
        };
        let err = resolve(flags, &[]).unwrap_err().to_string();
        assert!(err.contains("--plugin-tar-exclude"), "{err}");
    }
}
