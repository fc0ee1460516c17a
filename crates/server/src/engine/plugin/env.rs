//! What a plugin is told besides the files (upstream's `getPluginParamEnvs` and
//! `ApplicationSourcePluginParameters.Environ`): the source's `plugin.env` as `ARGOCD_ENV_*`,
//! its parameters as `ARGOCD_APP_PARAMETERS` (JSON) and `PARAM_*`.

use repo_proto::plugin::EnvEntry;
use repo_proto::v1alpha1::ApplicationSourcePlugin;

/// Variables as name and value, in the order upstream appends them.
pub(super) type Vars = Vec<(String, String)>;

/// `vars` followed by the plugin's: each `plugin.env` entry prefixed `ARGOCD_ENV_`, its value
/// substituted from `vars` (upstream's `Envsubst`); then the parameters. Nothing is added
/// without a `plugin` section (a plugin found by discovery).
pub(super) fn with_plugin(mut vars: Vars, plugin: Option<&ApplicationSourcePlugin>) -> Vars {
    let Some(plugin) = plugin else {
        return vars;
    };
    let user: Vars = plugin
        .env
        .iter()
        .map(|e| {
            let value = repo_render::envsubst(&vars, e.value());
            (format!("ARGOCD_ENV_{}", e.name()), value)
        })
        .collect();
    vars.extend(user);
    let json = crate::engine::upstream::plugin_parameters(&plugin.parameters);
    vars.push(("ARGOCD_APP_PARAMETERS".to_string(), json));
    for p in &plugin.parameters {
        let base = format!("PARAM_{}", escaped(p.name()));
        if let Some(s) = &p.string {
            vars.push((base.clone(), s.clone()));
        }
        if let Some(map) = &p.map {
            // Go ranges over a map in no set order; sorted here, so equal requests are equal.
            let mut entries: Vec<_> = map.map.iter().collect();
            entries.sort();
            for (k, v) in entries {
                vars.push((format!("{base}_{}", escaped(k)), v.clone()));
            }
        }
        if let Some(array) = &p.array {
            for (i, v) in array.array.iter().enumerate() {
                vars.push((format!("{base}_{i}"), v.clone()));
            }
        }
    }
    vars
}

/// Upstream's `escaped`: upper-cased (rune by rune, as Go's `ToUpper`), every character but
/// `A-Z`, `0-9` and `_` replaced by `_`.
fn escaped(name: &str) -> String {
    name.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .map(|c| match c {
            'A'..='Z' | '0'..='9' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// The variables as the metadata message carries them.
pub(super) fn entries(vars: &Vars) -> Vec<EnvEntry> {
    vars.iter()
        .map(|(name, value)| EnvEntry {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_proto::v1alpha1::{
        ApplicationSourcePluginParameter, EnvEntry as AppEnv, OptionalArray, OptionalMap,
    };

    fn var(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn no_plugin_section_adds_nothing() {
        let base = vec![var("ARGOCD_APP_NAME", "a")];
        assert_eq!(with_plugin(base.clone(), None), base);
    }

    #[test]
    fn env_prefixed_and_substituted_parameters_as_upstream() {
        let plugin = ApplicationSourcePlugin {
            name: Some("p".into()),
            env: vec![AppEnv {
                name: Some("FOO".into()),
                value: Some("${ARGOCD_APP_NAME}-$KUBE_VERSION-$$x".into()),
            }],
            parameters: vec![
                ApplicationSourcePluginParameter {
                    name: Some("string-param".into()),
                    string: Some("<v&>".into()),
                    ..Default::default()
                },
                ApplicationSourcePluginParameter {
                    name: Some("map.param".into()),
                    map: Some(OptionalMap {
                        map: [
                            ("b-key".to_string(), "2".to_string()),
                            ("a".into(), "1".into()),
                        ]
                        .into(),
                    }),
                    ..Default::default()
                },
                ApplicationSourcePluginParameter {
                    name: Some("arr".into()),
                    array: Some(OptionalArray {
                        array: vec!["x".into(), "y".into()],
                    }),
                    ..Default::default()
                },
                ApplicationSourcePluginParameter {
                    name: Some("empty".into()),
                    map: Some(OptionalMap::default()),
                    ..Default::default()
                },
            ],
        };
        let base = vec![var("ARGOCD_APP_NAME", "app"), var("KUBE_VERSION", "1.30.0")];
        let got = with_plugin(base, Some(&plugin));
        let want = vec![
            var("ARGOCD_APP_NAME", "app"),
            var("KUBE_VERSION", "1.30.0"),
            var("ARGOCD_ENV_FOO", "app-1.30.0-$x"),
            // Go's encoding: keys sorted, <, > and & escaped, a set empty map written.
            var(
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"string-param","string":"\u003cv\u0026\u003e"},{"map":{"a":"1","b-key":"2"},"name":"map.param"},{"array":["x","y"],"name":"arr"},{"map":{},"name":"empty"}]"#,
            ),
            var("PARAM_STRING_PARAM", "<v&>"),
            var("PARAM_MAP_PARAM_A", "1"),
            var("PARAM_MAP_PARAM_B_KEY", "2"),
            var("PARAM_ARR_0", "x"),
            var("PARAM_ARR_1", "y"),
        ];
        assert_eq!(got, want);
    }

    /// Upstream's TestApplicationSourcePluginParameters_Environ_all.
    #[test]
    fn every_value_kind_of_one_parameter() {
        let plugin = ApplicationSourcePlugin {
            parameters: vec![ApplicationSourcePluginParameter {
                name: Some("some-name".into()),
                string: Some("1.2.3".into()),
                array: Some(OptionalArray {
                    array: vec!["redis".into(), "minio".into()],
                }),
                map: Some(OptionalMap {
                    map: [
                        (
                            "image.repo".to_string(),
                            "quay.io/argoproj/argo-cd".to_string(),
                        ),
                        ("image.tag".into(), "v2.4.0".into()),
                    ]
                    .into(),
                }),
            }],
            ..Default::default()
        };
        let got = with_plugin(vec![], Some(&plugin));
        let want = vec![
            var(
                "ARGOCD_APP_PARAMETERS",
                r#"[{"array":["redis","minio"],"map":{"image.repo":"quay.io/argoproj/argo-cd","image.tag":"v2.4.0"},"name":"some-name","string":"1.2.3"}]"#,
            ),
            var("PARAM_SOME_NAME", "1.2.3"),
            var("PARAM_SOME_NAME_IMAGE_REPO", "quay.io/argoproj/argo-cd"),
            var("PARAM_SOME_NAME_IMAGE_TAG", "v2.4.0"),
            var("PARAM_SOME_NAME_0", "redis"),
            var("PARAM_SOME_NAME_1", "minio"),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_plugin_without_parameters_gets_null() {
        let plugin = ApplicationSourcePlugin::default();
        let got = with_plugin(vec![], Some(&plugin));
        assert_eq!(got, vec![var("ARGOCD_APP_PARAMETERS", "null")]);
    }

    #[test]
    fn escaping_is_upstreams() {
        assert_eq!(escaped("a-b.c_d9"), "A_B_C_D9");
        assert_eq!(escaped("ünï"), "_N_");
    }
}
