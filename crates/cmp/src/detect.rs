//! Which plugin renders an app (upstream's `DetectConfigManagementPlugin` and `cmpSupports`).

use repo_proto::plugin::{CheckPluginConfigurationResponse, EnvEntry};

use crate::{Dial, Error, Pack, Packed, Plugin, Sockets};

/// The plugin that takes an app.
#[derive(Debug, Clone)]
pub struct Found {
    pub plugin: Plugin,
    /// Its CheckPluginConfiguration answer (the repo-server refuses a `provideGitCreds` plugin
    /// for a repository with credentials, where upstream would put them in its env).
    pub config: CheckPluginConfigurationResponse,
    /// The tree packed for its MatchRepository, if it was asked: reusable when the tree to
    /// render is the same.
    pub packed: Option<Packed>,
}

/// The plugin for an app. With `name` (the source's `plugin.name`), that plugin's socket, used
/// when its discovery matches the app or it has none. Without, every socket in name order, the
/// first whose discovery matches; plugins without discovery are skipped. `pack` is the whole
/// repository as upstream matches it (no manifest-generate-paths), packed only once a plugin
/// asks to see it.
pub async fn detect(
    sockets: &Sockets,
    name: Option<&str>,
    pack: &Pack,
    env: &[EnvEntry],
    dial: Dial,
) -> Result<Found, Error> {
    let mut packed = None;
    if let Some(name) = name {
        let found = async {
            let plugin = Plugin::named(sockets, name, dial).await?;
            supports(plugin, true, pack, &mut packed, env).await
        };
        return match found.await {
            Ok(Some((plugin, config))) => Ok(Found {
                plugin,
                config,
                packed,
            }),
            Ok(None) => Err(none(Some(name), None)),
            Err(e) => Err(none(Some(name), Some(e))),
        };
    }
    let mut last = None;
    for (name, path) in sockets.list().await? {
        let probe = async {
            let plugin = Plugin::connect(&name, path, dial).await?;
            supports(plugin, false, pack, &mut packed, env).await
        };
        match probe.await {
            Ok(Some((plugin, config))) => {
                return Ok(Found {
                    plugin,
                    config,
                    packed,
                })
            }
            Ok(None) => {}
            // A sidecar that cannot be reached may own the app: that is not a "no".
            Err(e) if e.unreachable() => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(none(None, last))
}

/// `plugin` and its configuration if it takes the app: its discovery matches, or, when
/// named, it has no discovery or disabled it.
async fn supports(
    plugin: Plugin,
    named: bool,
    pack: &Pack,
    packed: &mut Option<Packed>,
    env: &[EnvEntry],
) -> Result<Option<(Plugin, CheckPluginConfigurationResponse)>, Error> {
    let config = plugin.check_plugin_configuration().await?;
    let takes = if config.is_discovery_configured {
        let tree = match packed {
            Some(tree) => tree,
            None => packed.insert(pack.clone().pack().await?),
        };
        let answer = plugin.match_repository(tree, env).await?;
        answer.is_supported || (named && !answer.is_discovery_enabled)
    } else {
        named
    };
    Ok(takes.then_some((plugin, config)))
}

fn none(name: Option<&str>, last: Option<Error>) -> Error {
    Error::NoPlugin {
        name: name.map(str::to_string),
        last: last.map(Box::new),
    }
}
