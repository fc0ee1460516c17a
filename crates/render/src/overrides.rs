//! `.argocd-source.yaml` and `.argocd-source-<app>.yaml` in the app directory: parameter
//! overrides (Argo CD Image Updater's git write-back) merged into the source as upstream's
//! `mergeSourceParameters` does.
//!
//! Upstream marshals the source to JSON, applies each file as a JSON merge patch and unmarshals
//! the result back into the same Go value. The unmarshal is what decides the outcome: a key the
//! patch deletes with `null` keeps its old value, a list element is decoded over the element at
//! its index, maps gain keys, and only `valuesObject` (raw JSON) really merges and deletes.
//! [`overlay`] applies a patch with exactly those rules, through the schema's descriptors.
//! `chart`, `path`, `repoURL` and `targetRevision` always stay the request's.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MapKey, ReflectMessage, Value as Field};
use repo_proto::v1alpha1::ApplicationSource;
use repo_source::RepoPath;
use serde_json::Value;

use crate::{Error, Root};

const RAW: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(repo_proto::FILE_DESCRIPTOR_SET)
            .expect("embedded descriptors decode")
    })
}

/// `source` with the override files in the app directory `app` merged in, the shared file
/// first, then the one for `app_name` (when it is not empty). Files are read through `root`.
pub fn overrides(
    root: &Root,
    app: &RepoPath,
    source: &ApplicationSource,
    app_name: &str,
) -> Result<ApplicationSource, Error> {
    let mut names = vec![".argocd-source.yaml".to_string()];
    if !app_name.is_empty() {
        names.push(format!(".argocd-source-{app_name}.yaml"));
    }
    let mut patches = Vec::new();
    for name in names {
        let shown = format!("{}/{name}", app.as_str());
        let path = match root.open(&app.join(&name)?) {
            Ok(path) if path.is_file() => path,
            Ok(_) | Err(Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(shown.clone(), e))?;
        let patch: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_saphyr::from_str(&text).map_err(|e| Error::parse(shown.clone(), e))?
        };
        patches.push((shown, patch));
    }
    if patches.is_empty() {
        return Ok(source.clone());
    }
    merge(source, &patches)
}

/// Applies `(file, patch)` in order and restores the fields that are not the tools'.
fn merge(
    source: &ApplicationSource,
    patches: &[(String, Value)],
) -> Result<ApplicationSource, Error> {
    let desc = pool()
        .get_message_by_name(
            "github.com.argoproj.argo_cd.v3.pkg.apis.application.v1alpha1.ApplicationSource",
        )
        .expect("ApplicationSource is in the schema");
    let mut message = DynamicMessage::new(desc);
    message
        .transcode_from(source)
        .map_err(|e| Error::parse("application source", e))?;
    for (file, patch) in patches {
        overlay(&mut message, patch).map_err(|m| Error::parse(file.clone(), m))?;
    }
    let mut merged: ApplicationSource = message
        .transcode_to()
        .map_err(|e| Error::parse("application source", e))?;
    merged.chart = source.chart.clone();
    merged.path = source.path.clone();
    merged.repo_url = source.repo_url.clone();
    merged.target_revision = source.target_revision.clone();
    Ok(merged)
}

/// Decodes the JSON `value` over `message` as Go's `json.Unmarshal` into an existing value.
fn overlay(message: &mut DynamicMessage, value: &Value) -> Result<(), String> {
    let map = match value {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        other => return Err(mismatch(other, message.descriptor().name())),
    };
    let desc = message.descriptor();
    for (key, value) in map {
        // Go matches keys exactly first, then without regard to case.
        let field = desc
            .get_field_by_name(key)
            .or_else(|| desc.fields().find(|f| f.name().eq_ignore_ascii_case(key)));
        let Some(field) = field else { continue };
        if value.is_null() {
            continue;
        }
        let kind = field.kind();
        if field.is_map() {
            let Value::Object(entries) = value else {
                return Err(mismatch(value, field.name()));
            };
            let entry = match &kind {
                Kind::Message(m) => m.map_entry_value_field(),
                _ => unreachable!("map fields are messages"),
            };
            let Field::Map(target) = message.get_field_mut(&field) else {
                unreachable!("a map field holds a map")
            };
            for (k, v) in entries {
                // A map element starts from zero in Go.
                let mut element = Field::default_value_for_field(&entry);
                decode(&mut element, &entry.kind(), v, field.name())?;
                target.insert(MapKey::String(k.clone()), element);
            }
        } else if field.is_list() {
            let Value::Array(items) = value else {
                return Err(mismatch(value, field.name()));
            };
            let Field::List(target) = message.get_field_mut(&field) else {
                unreachable!("a repeated field holds a list")
            };
            // Elements are decoded over the old ones at their index; the list is cut to length.
            target.truncate(items.len());
            for (i, item) in items.iter().enumerate() {
                if i == target.len() {
                    target.push(Field::default_value(&kind));
                }
                decode(&mut target[i], &kind, item, field.name())?;
            }
        } else {
            let mut current = message.get_field(&field).into_owned();
            decode(&mut current, &kind, value, field.name())?;
            message.set_field(&field, current);
        }
    }
    Ok(())
}

/// Decodes one JSON value over `target` of kind `kind`; `null` leaves it as it is.
fn decode(target: &mut Field, kind: &Kind, value: &Value, name: &str) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let bad = || mismatch(value, name);
    *target = match kind {
        Kind::Message(m) if m.full_name() == RAW => {
            // Raw JSON: merged for real (RFC 7386), `null` deletes.
            let old = match &*target {
                Field::Message(raw) => raw
                    .get_field_by_name("raw")
                    .and_then(|b| b.as_bytes().and_then(|b| serde_json::from_slice(b).ok())),
                _ => None,
            };
            let mut merged = old.unwrap_or(Value::Null);
            merge_patch(&mut merged, value);
            let mut raw = DynamicMessage::new(m.clone());
            raw.set_field_by_name("raw", Field::Bytes(merged.to_string().into_bytes().into()));
            Field::Message(raw)
        }
        Kind::Message(m) if m.full_name() == INT_OR_STRING => {
            let mut v = match &*target {
                Field::Message(v) => v.clone(),
                _ => DynamicMessage::new(m.clone()),
            };
            match value {
                Value::String(s) => {
                    v.set_field_by_name("type", Field::I64(1));
                    v.set_field_by_name("strVal", Field::String(s.clone()));
                }
                Value::Number(n) => {
                    let n = n
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(bad)?;
                    v.set_field_by_name("type", Field::I64(0));
                    v.set_field_by_name("intVal", Field::I32(n));
                }
                _ => return Err(bad()),
            }
            Field::Message(v)
        }
        Kind::Message(m) => {
            let mut v = match &*target {
                Field::Message(v) => v.clone(),
                _ => DynamicMessage::new(m.clone()),
            };
            overlay(&mut v, value)?;
            Field::Message(v)
        }
        Kind::String => Field::String(value.as_str().ok_or_else(bad)?.to_string()),
        Kind::Bool => Field::Bool(value.as_bool().ok_or_else(bad)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Field::I32(
            value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(bad)?,
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Field::I64(value.as_i64().ok_or_else(bad)?),
        Kind::Uint32 | Kind::Fixed32 => Field::U32(
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad)?,
        ),
        Kind::Uint64 | Kind::Fixed64 => Field::U64(value.as_u64().ok_or_else(bad)?),
        Kind::Double => Field::F64(value.as_f64().ok_or_else(bad)?),
        Kind::Float => Field::F32(value.as_f64().ok_or_else(bad)? as f32),
        Kind::Bytes | Kind::Enum(_) => return Err(bad()),
    };
    Ok(())
}

/// RFC 7386 JSON merge patch of `patch` into `target`.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(map) = target else {
        unreachable!("made an object above")
    };
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Go's wording for a JSON value of the wrong type.
fn mismatch(value: &Value, name: &str) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("cannot unmarshal {kind} into {name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_proto::v1alpha1::{ApplicationSourceHelm, ApplicationSourceKustomize, HelmParameter};

    fn patch(yaml: &str) -> Vec<(String, Value)> {
        vec![("f".into(), serde_saphyr::from_str(yaml).unwrap())]
    }

    fn param(name: &str, value: &str, force: Option<bool>) -> HelmParameter {
        HelmParameter {
            name: Some(name.into()),
            value: Some(value.into()),
            force_string: force,
        }
    }

    #[test]
    fn lists_replace_maps_gain_keys_and_null_keeps_the_old_value() {
        let source = ApplicationSource {
            path: Some("app".into()),
            repo_url: Some("https://git.example/a.git".into()),
            helm: Some(ApplicationSourceHelm {
                parameters: vec![param("a", "1", Some(true)), param("b", "2", None)],
                release_name: Some("rel".into()),
                ..Default::default()
            }),
            kustomize: Some(ApplicationSourceKustomize {
                common_labels: [("x".to_string(), "1".to_string())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let merged = merge(
            &source,
            &patch(
                "path: elsewhere\nref: other\nhelm:\n  releaseName: null\n  parameters:\n  - name: image.tag\n    value: '0.2'\nkustomize:\n  commonLabels:\n    y: '2'\n    x: null\n  images: [nginx:1]\nunknown: 1\n",
            ),
        )
        .unwrap();
        let helm = merged.helm.unwrap();
        // Decoded over element 0, so its forceString stays; element 1 is cut.
        assert_eq!(helm.parameters, [param("image.tag", "0.2", Some(true))]);
        assert_eq!(helm.release_name.as_deref(), Some("rel"));
        let kustomize = merged.kustomize.unwrap();
        assert_eq!(kustomize.images, ["nginx:1"]);
        assert_eq!(kustomize.common_labels.len(), 2);
        assert_eq!(merged.path.as_deref(), Some("app"), "path is the request's");
        assert_eq!(merged.r#ref.as_deref(), Some("other"));
    }

    #[test]
    fn values_object_merges_and_deletes() {
        let source = ApplicationSource {
            helm: Some(ApplicationSourceHelm {
                values_object: Some(
                    repo_proto::k8s::io::apimachinery::pkg::runtime::RawExtension {
                        raw: Some(br#"{"a":1,"b":{"c":2,"d":3}}"#.to_vec()),
                    },
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let merged = merge(
            &source,
            &patch("helm:\n  valuesObject:\n    b:\n      d: null\n      e: 4\n"),
        )
        .unwrap();
        let raw = merged.helm.unwrap().values_object.unwrap().raw.unwrap();
        let raw: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(raw, serde_json::json!({"a": 1, "b": {"c": 2, "e": 4}}));
    }

    #[test]
    fn a_wrong_type_is_an_error_naming_the_field() {
        let err = merge(
            &ApplicationSource::default(),
            &patch("helm:\n  skipCrds: 'yes'\n"),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "f: cannot unmarshal string into skipCrds");
        let err = merge(&ApplicationSource::default(), &patch("- a\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f: cannot unmarshal array into ApplicationSource"
        );
    }
}
