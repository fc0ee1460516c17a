//! The parts of a config management plugin render that do not talk to the sidecar (the
//! repo-server does that): the variables upstream's `runConfigManagementPluginSidecars` hands
//! the plugin, and the plugin's output made into manifests as the built-in tools' are.

use crate::env::{expand, BuildEnv};
use crate::helm::kube_version;
use crate::{job, manifest, Error, Input, Tracking};

/// Upstream's `newEnv` then `getPluginEnvs`' additions, in its order: the `ARGOCD_APP_*`
/// variables, `KUBE_VERSION` (parsed as upstream's `parseKubeVersion`, empty when unset) and
/// `KUBE_API_VERSIONS`.
pub fn plugin_env(input: &Input<'_>) -> Result<Vec<(String, String)>, Error> {
    let kube = match input.kube_version {
        "" => String::new(),
        raw => kube_version(raw)?,
    };
    Ok(BuildEnv::new(input)
        .vars()
        .map(|(name, value)| match name {
            "KUBE_VERSION" => (name.to_string(), kube.clone()),
            _ => (name.to_string(), value.to_string()),
        })
        .collect())
}

/// Upstream's `newEnv`: the `ARGOCD_APP_*` variables alone, which plugin discovery gets.
pub fn app_env(input: &Input<'_>) -> Vec<(String, String)> {
    BuildEnv::new(input)
        .vars()
        .filter(|(name, _)| !name.starts_with("KUBE_"))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Upstream's `Env.Envsubst`: `$NAME` and `${NAME}` from `vars` (the last of a name wins, as
/// in Go's map), unknown names empty, `$$` a `$`.
pub fn envsubst(vars: &[(String, String)], s: &str) -> String {
    expand(s, |name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

/// The plugin's manifests as the response's: each string decoded as upstream's
/// `kube.SplitYAML` does (YAML or JSON, several documents, every one an object with a kind),
/// lists expanded and tracking applied as for the built-in tools.
pub fn plugin_manifests(
    raw: &[String],
    tracking: &Tracking<'_>,
    app_name: &str,
    namespace: &str,
) -> Result<Vec<String>, Error> {
    let mut objects = Vec::new();
    for text in raw {
        objects.extend(job::objects("plugin", text)?);
    }
    manifest::finish(objects, tracking, app_name, namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envsubst_reads_the_given_variables_last_wins() {
        let vars = vec![
            ("A".to_string(), "1".to_string()),
            ("KUBE_VERSION".to_string(), "1.30.0".to_string()),
            ("A".to_string(), "2".to_string()),
        ];
        assert_eq!(envsubst(&vars, "$A-${KUBE_VERSION}-$B-$$"), "2-1.30.0--$");
    }
}
