//! Upstream's `appSourceKeyJSON`: Go's JSON of the application source with its ref sources
//! and their resolved commits, which the manifest key hashes. Each writer follows the Go
//! type's field order, tags and `omitempty`/`omitzero`, for the values protobuf decoding
//! gives it (nil slices and maps for empty ones, set pointers for present messages).

use std::collections::BTreeMap;

use repo_proto::intstr::IntOrString;
use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceDirectory, ApplicationSourceHelm,
    ApplicationSourceKustomize, ApplicationSourcePlugin, ApplicationSourcePluginParameter,
    JsonnetVar, KustomizePatch, KustomizeReplica, KustomizeSelector, RefTarget,
};

use super::json::{self, Object, Refused};

/// The JSON upstream hashes for `source` with the request's `refSources` and the commits the
/// used ones resolved to (upstream-normalized URL → commit); empty where Go's marshalling
/// fails, as upstream then hashes nothing.
pub(super) fn key_json(
    source: &ApplicationSource,
    refs: &[(String, RefTarget)],
    resolved: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    match write(&mut out, source, refs, resolved) {
        Ok(()) => out,
        Err(Refused) => Vec::new(),
    }
}

fn write(
    out: &mut Vec<u8>,
    source: &ApplicationSource,
    refs: &[(String, RefTarget)],
    resolved: &BTreeMap<String, String>,
) -> Result<(), Refused> {
    let mut o = Object::open(out);
    app_source(o.field("appSrc"), source)?;
    // `srcRefs`: each ref source's repository with the commit its repository resolved to (none
    // for one no value file uses); the request's own target revision is not part of it.
    let by_name: BTreeMap<&str, &RefTarget> = refs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut src_refs = Object::open(o.field("srcRefs"));
    for (name, target) in by_name {
        let repo = target.repo.as_ref();
        let url = repo.map(|r| r.repo()).unwrap_or_default();
        let commit = resolved.get(&normalize(url)).map_or("", String::as_str);
        let mut t = Object::open(src_refs.field(name));
        t.str("repoURL", url);
        t.str("project", repo.map(|r| r.project()).unwrap_or_default());
        t.str("targetRevision", commit);
        t.str("chart", target.chart());
        t.close();
    }
    src_refs.close();
    o.map_omitempty("resolvedRevisions", resolved);
    o.close();
    Ok(())
}

/// `ApplicationSource`, with `repoURL` and `targetRevision` blanked unless it is a Helm chart
/// (the commit in the key supersedes them).
fn app_source(out: &mut Vec<u8>, s: &ApplicationSource) -> Result<(), Refused> {
    let helm_chart = !s.chart().is_empty();
    let mut o = Object::open(out);
    o.str("repoURL", if helm_chart { s.repo_url() } else { "" });
    o.str_omitempty("path", s.path());
    o.str_omitempty(
        "targetRevision",
        if helm_chart { s.target_revision() } else { "" },
    );
    if let Some(h) = &s.helm {
        helm(o.field("helm"), h)?;
    }
    if let Some(k) = &s.kustomize {
        kustomize(o.field("kustomize"), k)?;
    }
    if let Some(d) = &s.directory {
        directory(o.field("directory"), d)?;
    }
    if let Some(p) = &s.plugin {
        plugin(o.field("plugin"), p)?;
    }
    o.str_omitempty("chart", s.chart());
    o.str_omitempty("ref", s.r#ref());
    o.str_omitempty("name", s.name());
    o.str_omitempty("tagPrefix", s.tag_prefix());
    o.close();
    Ok(())
}

fn helm(out: &mut Vec<u8>, h: &ApplicationSourceHelm) -> Result<(), Refused> {
    let mut o = Object::open(out);
    o.strings_omitempty("valueFiles", &h.value_files);
    o.list_omitempty("parameters", &h.parameters, |out, p| {
        let mut o = Object::open(out);
        o.str_omitempty("name", p.name());
        o.str_omitempty("value", p.value());
        o.bool_omitempty("forceString", p.force_string());
        o.close();
        Ok(())
    })?;
    o.str_omitempty("releaseName", h.release_name());
    o.str_omitempty("values", h.values());
    o.list_omitempty("fileParameters", &h.file_parameters, |out, p| {
        let mut o = Object::open(out);
        o.str_omitempty("name", p.name());
        o.str_omitempty("path", p.path());
        o.close();
        Ok(())
    })?;
    o.str_omitempty("version", h.version());
    o.bool_omitempty("passCredentials", h.pass_credentials());
    o.bool_omitempty("ignoreMissingValueFiles", h.ignore_missing_value_files());
    o.bool_omitempty("skipCrds", h.skip_crds());
    if let Some(values) = &h.values_object {
        // RawExtension's MarshalJSON: `null` without bytes; set but empty fails in Go.
        match &values.raw {
            None => o.field("valuesObject").extend_from_slice(b"null"),
            Some(raw) => json::raw(o.field("valuesObject"), raw)?,
        }
    }
    o.str_omitempty("namespace", h.namespace());
    o.str_omitempty("kubeVersion", h.kube_version());
    o.strings_omitempty("apiVersions", &h.api_versions);
    o.bool_omitempty("skipTests", h.skip_tests());
    o.bool_omitempty("skipSchemaValidation", h.skip_schema_validation());
    o.close();
    Ok(())
}

fn kustomize(out: &mut Vec<u8>, k: &ApplicationSourceKustomize) -> Result<(), Refused> {
    let mut o = Object::open(out);
    o.str_omitempty("namePrefix", k.name_prefix());
    o.str_omitempty("nameSuffix", k.name_suffix());
    o.strings_omitempty("images", &k.images);
    o.map_omitempty("commonLabels", &k.common_labels);
    o.str_omitempty("version", k.version());
    o.map_omitempty("commonAnnotations", &k.common_annotations);
    o.bool_omitempty("forceCommonLabels", k.force_common_labels());
    o.bool_omitempty("forceCommonAnnotations", k.force_common_annotations());
    o.str_omitempty("namespace", k.namespace());
    o.bool_omitempty("commonAnnotationsEnvsubst", k.common_annotations_envsubst());
    o.list_omitempty("replicas", &k.replicas, replica)?;
    o.list_omitempty("patches", &k.patches, patch)?;
    o.strings_omitempty("components", &k.components);
    o.bool_omitempty("ignoreMissingComponents", k.ignore_missing_components());
    o.bool_omitempty("labelWithoutSelector", k.label_without_selector());
    o.str_omitempty("kubeVersion", k.kube_version());
    o.strings_omitempty("apiVersions", &k.api_versions);
    o.bool_omitempty("labelIncludeTemplates", k.label_include_templates());
    o.close();
    Ok(())
}

fn replica(out: &mut Vec<u8>, r: &KustomizeReplica) -> Result<(), Refused> {
    let mut o = Object::open(out);
    o.str("name", r.name());
    int_or_string(o.field("count"), r.count.as_ref())?;
    o.close();
    Ok(())
}

/// IntOrString's MarshalJSON: the number or the string by its type; another type fails. Not a
/// pointer in Go, so an absent one is the number 0.
fn int_or_string(out: &mut Vec<u8>, v: Option<&IntOrString>) -> Result<(), Refused> {
    let v = v.cloned().unwrap_or_default();
    match v.r#type() {
        0 => out.extend_from_slice(v.int_val().to_string().as_bytes()),
        1 => json::string(out, v.str_val()),
        _ => return Err(Refused),
    }
    Ok(())
}

fn patch(out: &mut Vec<u8>, p: &KustomizePatch) -> Result<(), Refused> {
    let mut o = Object::open(out);
    o.str_omitempty("path", p.path());
    o.str_omitempty("patch", p.patch());
    if let Some(t) = &p.target {
        selector(o.field("target"), t);
    }
    o.map_omitempty("options", &p.options);
    o.close();
    Ok(())
}

/// KustomizeSelector, with the embedded KustomizeResId and KustomizeGvk fields inlined.
fn selector(out: &mut Vec<u8>, s: &KustomizeSelector) {
    let id = s.res_id.clone().unwrap_or_default();
    let gvk = id.gvk.clone().unwrap_or_default();
    let mut o = Object::open(out);
    o.str_omitempty("group", gvk.group());
    o.str_omitempty("version", gvk.version());
    o.str_omitempty("kind", gvk.kind());
    o.str_omitempty("name", id.name());
    o.str_omitempty("namespace", id.namespace());
    o.str_omitempty("annotationSelector", s.annotation_selector());
    o.str_omitempty("labelSelector", s.label_selector());
    o.close();
}

fn directory(out: &mut Vec<u8>, d: &ApplicationSourceDirectory) -> Result<(), Refused> {
    let mut o = Object::open(out);
    o.bool_omitempty("recurse", d.recurse());
    // `omitzero` through ApplicationSourceJsonnet.IsZero: gone while its three lists are empty.
    if let Some(j) = d
        .jsonnet
        .as_ref()
        .filter(|j| !(j.ext_vars.is_empty() && j.tlas.is_empty() && j.libs.is_empty()))
    {
        let mut jo = Object::open(o.field("jsonnet"));
        jo.list_omitempty("extVars", &j.ext_vars, jsonnet_var)?;
        jo.list_omitempty("tlas", &j.tlas, jsonnet_var)?;
        jo.strings_omitempty("libs", &j.libs);
        jo.close();
    }
    o.str_omitempty("exclude", d.exclude());
    o.str_omitempty("include", d.include());
    o.bool_omitempty("disableExtensionFilter", d.disable_extension_filter());
    o.close();
    Ok(())
}

fn jsonnet_var(out: &mut Vec<u8>, v: &JsonnetVar) -> Result<(), Refused> {
    let mut o = Object::open(out);
    o.str("name", v.name());
    o.str("value", v.value());
    o.bool_omitempty("code", v.code());
    o.close();
    Ok(())
}

fn plugin(out: &mut Vec<u8>, p: &ApplicationSourcePlugin) -> Result<(), Refused> {
    let mut o = Object::open(out);
    o.str_omitempty("name", p.name());
    o.list_omitempty("env", &p.env, |out, e| {
        let mut o = Object::open(out);
        o.str("name", e.name());
        o.str("value", e.value());
        o.close();
        Ok(())
    })?;
    o.list_omitempty("parameters", &p.parameters, parameter)?;
    o.close();
    Ok(())
}

/// `ApplicationSourcePluginParameters` as Go's `json.Marshal` writes them, the value of a
/// plugin's `ARGOCD_APP_PARAMETERS`: `null` for none, as upstream's nil slice.
pub(crate) fn plugin_parameters(params: &[ApplicationSourcePluginParameter]) -> String {
    if params.is_empty() {
        return "null".to_string();
    }
    let mut out = vec![b'['];
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Never refused: a parameter holds strings only.
        let _ = parameter(&mut out, p);
    }
    out.push(b']');
    String::from_utf8_lossy(&out).into_owned()
}

/// ApplicationSourcePluginParameter's MarshalJSON: a Go map, so keys in sorted order; a set
/// map or array is written even when empty.
fn parameter(out: &mut Vec<u8>, p: &ApplicationSourcePluginParameter) -> Result<(), Refused> {
    let mut o = Object::open(out);
    if let Some(array) = &p.array {
        let out = o.field("array");
        match array.array.is_empty() {
            true => out.extend_from_slice(b"[]"),
            false => json::strings(out, &array.array),
        }
    }
    if let Some(map) = &p.map {
        json::object(o.field("map"), &map.map);
    }
    o.str("name", p.name());
    if let Some(s) = &p.string {
        o.str("string", s);
    }
    o.close();
    Ok(())
}

/// Upstream's `NormalizeGitURL`, by which it keys resolved ref commits: trimmed and lowercased,
/// scp-like `user@host:path` as `user@host/path`, without a `.git` suffix. (Go's URL parse and
/// print round trip, which re-escapes unusual characters, is taken as the identity.)
pub(super) fn normalize(url: &str) -> String {
    let mut repo = url.trim().to_lowercase();
    let rest = repo.strip_prefix("ssh://").unwrap_or(&repo);
    let scp = rest
        .rsplit_once('@')
        .is_some_and(|(user, host)| !host.is_empty() && !user.contains(['/', ':']));
    if scp && !repo.starts_with("ssh://") {
        repo = repo.replacen(':', "/", 1);
    }
    let repo = repo.strip_suffix(".git").unwrap_or(&repo);
    repo.strip_prefix("ssh://").unwrap_or(repo).to_string()
}
