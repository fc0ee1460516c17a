//! Reading pod templates: containers, volumes, mounts and env, with messages that name the
//! workload.

use k8s_openapi::api::core::v1::{
    ConfigMapKeySelector, Container, EnvVar, KeyToPath, PodSpec, Volume, VolumeMount,
};

use super::objects::Workload;

impl<'a> Workload<'a> {
    pub(crate) fn spec(&self) -> &'a PodSpec {
        self.template
            .spec
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no pod spec", self.id()))
    }

    pub(crate) fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    pub(crate) fn container(&self, name: &str) -> &'a Container {
        self.spec()
            .containers
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{}: no container {name}", self.id()))
    }

    pub(crate) fn volumes(&self) -> &'a [Volume] {
        self.spec().volumes.as_deref().unwrap_or_default()
    }

    pub(crate) fn volume(&self, name: &str) -> &'a Volume {
        let found: Vec<&Volume> = self.volumes().iter().filter(|v| v.name == name).collect();
        assert_eq!(found.len(), 1, "{}: volumes named {name}", self.id());
        found[0]
    }

    /// Every container, init containers included.
    pub(crate) fn all_containers(&self) -> Vec<&'a Container> {
        let spec = self.spec();
        spec.init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .collect()
    }
}

pub(crate) fn mounts(container: &Container) -> &[VolumeMount] {
    container.volume_mounts.as_deref().unwrap_or_default()
}

/// The single mount at `path`.
pub(crate) fn mount_at<'a>(container: &'a Container, path: &str) -> &'a VolumeMount {
    let found: Vec<&VolumeMount> = mounts(container)
        .iter()
        .filter(|m| m.mount_path == path)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "container {}: mounts at {path}",
        container.name
    );
    found[0]
}

pub(crate) fn envs(container: &Container) -> &[EnvVar] {
    container.env.as_deref().unwrap_or_default()
}

pub(crate) fn env<'a>(container: &'a Container, name: &str) -> &'a EnvVar {
    let found: Vec<&EnvVar> = envs(container).iter().filter(|e| e.name == name).collect();
    assert_eq!(found.len(), 1, "container {}: env {name}", container.name);
    found[0]
}

/// The config-map reference of an env var, which must be its only source.
pub(crate) fn config_map_ref(env: &EnvVar) -> &ConfigMapKeySelector {
    assert!(
        env.value.is_none(),
        "env {} has a literal value too",
        env.name
    );
    let source = env
        .value_from
        .as_ref()
        .unwrap_or_else(|| panic!("env {} has no valueFrom", env.name));
    source
        .config_map_key_ref
        .as_ref()
        .unwrap_or_else(|| panic!("env {} is not from a ConfigMap", env.name))
}

/// Asserts `name` is read from `argocd-cmd-params-cm` key `key`, optionally.
pub(crate) fn assert_cmd_param(container: &Container, name: &str, key: &str) {
    assert_config_map_key(container, name, "argocd-cmd-params-cm", key);
}

/// Asserts `name` is read from ConfigMap `map` key `key`, optionally.
pub(crate) fn assert_config_map_key(container: &Container, name: &str, map: &str, key: &str) {
    let selector = config_map_ref(env(container, name));
    assert_eq!(selector.name, map, "env {name}: ConfigMap");
    assert_eq!(selector.key, key, "env {name}: key");
    assert_eq!(
        selector.optional,
        Some(true),
        "env {name}: must be optional"
    );
}

/// Asserts `name` is set to the literal `value`.
pub(crate) fn assert_literal(container: &Container, name: &str, value: &str) {
    let env = env(container, name);
    assert_eq!(env.value.as_deref(), Some(value), "env {name}");
    assert!(
        env.value_from.is_none(),
        "env {name}: valueFrom left beside the value"
    );
}

/// `items` as (key, path) pairs.
pub(crate) fn items(items: &Option<Vec<KeyToPath>>) -> Vec<(&str, &str)> {
    items
        .iter()
        .flatten()
        .map(|i| (i.key.as_str(), i.path.as_str()))
        .collect()
}

/// Asserts `name` is read from Secret `secret` key `key` and nothing else, with `optional`
/// as given (`None`: required).
pub(crate) fn assert_secret_key(
    container: &Container,
    name: &str,
    secret: &str,
    key: &str,
    optional: Option<bool>,
) {
    let env = env(container, name);
    assert!(env.value.is_none(), "env {name} has a literal value too");
    let source = env
        .value_from
        .as_ref()
        .unwrap_or_else(|| panic!("env {name} has no valueFrom"));
    assert!(
        source.config_map_key_ref.is_none()
            && source.field_ref.is_none()
            && source.resource_field_ref.is_none(),
        "env {name}: a Secret key must be its only source"
    );
    let selector = source
        .secret_key_ref
        .as_ref()
        .unwrap_or_else(|| panic!("env {name} is not from a Secret"));
    assert_eq!(selector.name, secret, "env {name}: Secret");
    assert_eq!(selector.key, key, "env {name}: key");
    assert_eq!(selector.optional, optional, "env {name}: optional");
}
