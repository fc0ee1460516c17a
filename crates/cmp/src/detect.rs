//! Which plugin renders an app (upstream's `DetectConfigManagementPlugin` and `cmpSupports`).

use repo_proto::plugin::EnvEntry;

use crate::{Dial, Error, Pack, Packed, Plugin, Sockets};

/// The plugin for an app. With `name` (the source's `plugin.name`), that plugin's socket, used
/// when its discovery matches the app or it has none. Without, every socket in name order, the
/// first whose discovery matches; plugins without discovery are skipped. `pack` is the whole
/// repository as upstream matches it (no manifest-generate-paths), packed only once a plugin
/// asks to see it; the packed tree is answered for reuse.
pub async fn detect(
    sockets: &Sockets,
    name: Option<&str>,
    pack: &Pack,
    env: &[EnvEntry],
    dial: Dial,
) -> Result<(Plugin, Option<Packed>), Error> {
    let mut packed = None;
    if let Some(name) = name {
        let found = async {
            let plugin = Plugin::named(sockets, name, dial).await?;
            let yes = supports(&plugin, true, pack, &mut packed, env).await?;
            Ok::<_, Error>(yes.then_some(plugin))
        };
        return match found.await {
            Ok(Some(plugin)) => Ok((plugin, packed)),
            Ok(None) => Err(none(Some(name), None)),
            Err(e) => Err(none(Some(name), Some(e))),
        };
    }
    let mut last = None;
    for (name, path) in sockets.list().await? {
        let probe = async {
            let plugin = Plugin::connect(&name, path, dial).await?;
            let yes = supports(&plugin, false, pack, &mut packed, env).await?;
            Ok::<_, Error>(yes.then_some(plugin))
        };
        match probe.await {
            Ok(Some(plugin)) => return Ok((plugin, packed)),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
    }
    Err(none(None, last))
}

/// Whether `plugin` takes the app: its discovery matches, or, when named, it has no discovery
/// or disabled it.
async fn supports(
    plugin: &Plugin,
    named: bool,
    pack: &Pack,
    packed: &mut Option<Packed>,
    env: &[EnvEntry],
) -> Result<bool, Error> {
    let config = plugin.check_plugin_configuration().await?;
    if !config.is_discovery_configured {
        return Ok(named);
    }
    let tree = match packed {
        Some(tree) => tree,
        None => packed.insert(pack.clone().pack().await?),
    };
    let answer = plugin.match_repository(tree, env).await?;
    Ok(answer.is_supported || (named && !answer.is_discovery_enabled))
}

fn none(name: Option<&str>, last: Option<Error>) -> Error {
    Error::NoPlugin {
        name: name.map(str::to_string),
        last: last.map(Box::new),
    }
}
