//! The application source and request context of manifest RPCs, from flags. Tool blocks
//! (helm, kustomize, directory) are only sent when one of their flags is used, because an
//! explicit block selects the source type on the server, as in upstream.

use std::collections::BTreeMap;

use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceDirectory, ApplicationSourceHelm, ApplicationSourceJsonnet,
    ApplicationSourceKustomize, HelmFileParameter, HelmParameter, JsonnetVar, KustomizeReplica,
};

/// `KEY=VALUE`.
fn pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceArgs {
    /// Path of the application inside the repository
    #[arg(long, default_value = ".")]
    pub path: String,
    /// Target revision: branch, tag, commit, semver constraint or HEAD
    #[arg(long, default_value = "HEAD")]
    pub revision: String,
    /// Helm chart name (Helm repository sources)
    #[arg(long)]
    pub chart: Option<String>,
    /// Prefix stripped from tags before semver matching
    #[arg(long)]
    pub tag_prefix: Option<String>,
    /// Helm release name
    #[arg(long)]
    pub helm_release_name: Option<String>,
    /// Helm values file in the repository (repeatable)
    #[arg(long = "helm-values-file")]
    pub helm_values_files: Vec<String>,
    /// Helm --set KEY=VALUE (repeatable)
    #[arg(long = "helm-set", value_parser = pair)]
    pub helm_set: Vec<(String, String)>,
    /// Helm --set-string KEY=VALUE (repeatable)
    #[arg(long = "helm-set-string", value_parser = pair)]
    pub helm_set_string: Vec<(String, String)>,
    /// Helm --set-file KEY=PATH in the repository (repeatable)
    #[arg(long = "helm-set-file", value_parser = pair)]
    pub helm_set_file: Vec<(String, String)>,
    /// Inline Helm values (YAML)
    #[arg(long)]
    pub helm_values: Option<String>,
    /// Helm: do not install CRDs
    #[arg(long)]
    pub helm_skip_crds: bool,
    /// Helm: skip test manifests
    #[arg(long)]
    pub helm_skip_tests: bool,
    /// Helm: skip schema validation
    #[arg(long)]
    pub helm_skip_schema_validation: bool,
    /// Kustomize namePrefix
    #[arg(long)]
    pub kustomize_name_prefix: Option<String>,
    /// Kustomize nameSuffix
    #[arg(long)]
    pub kustomize_name_suffix: Option<String>,
    /// Kustomize image override, e.g. nginx=nginx:1.27 (repeatable)
    #[arg(long = "kustomize-image")]
    pub kustomize_images: Vec<String>,
    /// Kustomize namespace
    #[arg(long)]
    pub kustomize_namespace: Option<String>,
    /// Kustomize commonLabels KEY=VALUE (repeatable)
    #[arg(long = "kustomize-common-label", value_parser = pair)]
    pub kustomize_common_labels: Vec<(String, String)>,
    /// Kustomize commonAnnotations KEY=VALUE (repeatable)
    #[arg(long = "kustomize-common-annotation", value_parser = pair)]
    pub kustomize_common_annotations: Vec<(String, String)>,
    /// Kustomize replicas NAME=COUNT (repeatable)
    #[arg(long = "kustomize-replica", value_parser = pair)]
    pub kustomize_replicas: Vec<(String, String)>,
    /// Kustomize component path (repeatable)
    #[arg(long = "kustomize-component")]
    pub kustomize_components: Vec<String>,
    /// Directory: recurse into subdirectories
    #[arg(long)]
    pub directory_recurse: bool,
    /// Directory: include glob
    #[arg(long)]
    pub directory_include: Option<String>,
    /// Directory: exclude glob
    #[arg(long)]
    pub directory_exclude: Option<String>,
    /// Jsonnet top-level argument KEY=VALUE (repeatable)
    #[arg(long = "jsonnet-tla", value_parser = pair)]
    pub jsonnet_tlas: Vec<(String, String)>,
    /// Jsonnet external variable KEY=VALUE (repeatable)
    #[arg(long = "jsonnet-ext-var", value_parser = pair)]
    pub jsonnet_ext_vars: Vec<(String, String)>,
    /// Jsonnet library path (repeatable)
    #[arg(long = "jsonnet-lib")]
    pub jsonnet_libs: Vec<String>,
}

fn map(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

fn vars(pairs: &[(String, String)]) -> Vec<JsonnetVar> {
    pairs
        .iter()
        .map(|(k, v)| JsonnetVar {
            name: Some(k.clone()),
            value: Some(v.clone()),
            code: Some(false),
        })
        .collect()
}

impl SourceArgs {
    pub fn source(&self, repo_url: &str) -> Result<ApplicationSource, String> {
        let helm_used = self.helm_release_name.is_some()
            || !self.helm_values_files.is_empty()
            || !self.helm_set.is_empty()
            || !self.helm_set_string.is_empty()
            || !self.helm_set_file.is_empty()
            || self.helm_values.is_some()
            || self.helm_skip_crds
            || self.helm_skip_tests
            || self.helm_skip_schema_validation;
        let helm = helm_used.then(|| ApplicationSourceHelm {
            release_name: self.helm_release_name.clone(),
            value_files: self.helm_values_files.clone(),
            parameters: self
                .helm_set
                .iter()
                .map(|p| (p, false))
                .chain(self.helm_set_string.iter().map(|p| (p, true)))
                .map(|((k, v), force)| HelmParameter {
                    name: Some(k.clone()),
                    value: Some(v.clone()),
                    force_string: Some(force),
                })
                .collect(),
            file_parameters: self
                .helm_set_file
                .iter()
                .map(|(k, v)| HelmFileParameter {
                    name: Some(k.clone()),
                    path: Some(v.clone()),
                })
                .collect(),
            values: self.helm_values.clone(),
            skip_crds: Some(self.helm_skip_crds),
            skip_tests: Some(self.helm_skip_tests),
            skip_schema_validation: Some(self.helm_skip_schema_validation),
            ..Default::default()
        });
        let replicas = self
            .kustomize_replicas
            .iter()
            .map(|(name, count)| {
                let count: i32 = count.parse().map_err(|_| {
                    format!("--kustomize-replica {name}={count}: COUNT must be a number")
                })?;
                Ok(KustomizeReplica {
                    name: Some(name.clone()),
                    count: Some(repo_proto::intstr::IntOrString {
                        r#type: Some(0),
                        int_val: Some(count),
                        str_val: None,
                    }),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let kustomize_used = self.kustomize_name_prefix.is_some()
            || self.kustomize_name_suffix.is_some()
            || !self.kustomize_images.is_empty()
            || self.kustomize_namespace.is_some()
            || !self.kustomize_common_labels.is_empty()
            || !self.kustomize_common_annotations.is_empty()
            || !replicas.is_empty()
            || !self.kustomize_components.is_empty();
        let kustomize = kustomize_used.then(|| ApplicationSourceKustomize {
            name_prefix: self.kustomize_name_prefix.clone(),
            name_suffix: self.kustomize_name_suffix.clone(),
            images: self.kustomize_images.clone(),
            namespace: self.kustomize_namespace.clone(),
            common_labels: map(&self.kustomize_common_labels),
            common_annotations: map(&self.kustomize_common_annotations),
            replicas,
            components: self.kustomize_components.clone(),
            ..Default::default()
        });
        let jsonnet_used = !self.jsonnet_tlas.is_empty()
            || !self.jsonnet_ext_vars.is_empty()
            || !self.jsonnet_libs.is_empty();
        let directory_used = self.directory_recurse
            || self.directory_include.is_some()
            || self.directory_exclude.is_some()
            || jsonnet_used;
        let directory = directory_used.then(|| ApplicationSourceDirectory {
            recurse: Some(self.directory_recurse),
            include: self.directory_include.clone(),
            exclude: self.directory_exclude.clone(),
            jsonnet: jsonnet_used.then(|| ApplicationSourceJsonnet {
                tlas: vars(&self.jsonnet_tlas),
                ext_vars: vars(&self.jsonnet_ext_vars),
                libs: self.jsonnet_libs.clone(),
            }),
            ..Default::default()
        });
        Ok(ApplicationSource {
            repo_url: Some(repo_url.to_string()),
            path: Some(self.path.clone()),
            target_revision: Some(self.revision.clone()),
            chart: self.chart.clone(),
            tag_prefix: self.tag_prefix.clone(),
            helm,
            kustomize,
            directory,
            ..Default::default()
        })
    }
}

/// Context of a manifest request: who the app is and what it targets.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AppArgs {
    /// Application name (tracking label/annotation value, ARGOCD_APP_NAME)
    #[arg(long, default_value = "repoctl")]
    pub app_name: String,
    /// Destination namespace
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// Kubernetes version of the destination, e.g. 1.33.0
    #[arg(long, default_value = "")]
    pub kube_version: String,
    /// API versions available in the destination (repeatable)
    #[arg(long = "api-version")]
    pub api_versions: Vec<String>,
    /// Tracking method: annotation, label or annotation+label
    #[arg(long, default_value = "")]
    pub tracking_method: String,
    /// Label key used for label tracking
    #[arg(long, default_value = "app.kubernetes.io/instance")]
    pub app_label_key: String,
    /// Installation ID written by the tracking annotation
    #[arg(long, default_value = "")]
    pub installation_id: String,
    /// Hard refresh: ignore the manifest cache
    #[arg(long)]
    pub no_cache: bool,
}
