//! From decoded objects to the response's manifests: lists expanded, tracking applied, one
//! compact JSON string per object (keys sorted, as Go's encoder writes maps).

use serde_json::{Map, Value};

use crate::{Error, Tracking};

/// A decoded Kubernetes object.
pub(crate) type Object = Map<String, Value>;

/// Accepts `value` as an object the way `unstructured.Unstructured` decoding does: it must be
/// a JSON object with a non-empty string `kind` (`apiVersion` is not required upstream).
pub(crate) fn object(value: Value) -> Result<Object, &'static str> {
    match value {
        Value::Object(map)
            if map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| !k.is_empty()) =>
        {
            Ok(map)
        }
        Value::Object(_) => Err("object has no kind"),
        _ => Err("document is not an object"),
    }
}

/// Expands lists, applies tracking and serializes.
pub(crate) fn finish(
    objects: Vec<Object>,
    tracking: &Tracking<'_>,
    app: &str,
    namespace: &str,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::with_capacity(objects.len());
    for obj in objects {
        for mut target in expand(obj)? {
            tracking.apply(&mut target, app, namespace)?;
            out.push(Value::Object(target).to_string());
        }
    }
    Ok(out)
}

/// Anything whose `items` is an array is a list (as `Unstructured.IsList` decides, whatever
/// the kind); `items: null` without `spec`/`status` is an empty list.
fn expand(mut obj: Object) -> Result<Vec<Object>, Error> {
    match obj.get("items") {
        Some(Value::Array(_)) => {
            let Some(Value::Array(items)) = obj.remove("items") else {
                unreachable!("checked above");
            };
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(Error::parse(kind_of(&obj), "list items must be objects")),
                })
                .collect()
        }
        Some(Value::Null) if !obj.contains_key("spec") && !obj.contains_key("status") => Ok(vec![]),
        _ => Ok(vec![obj]),
    }
}

fn kind_of(obj: &Object) -> String {
    obj.get("kind")
        .and_then(Value::as_str)
        .unwrap_or("list")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn lists_expand_and_null_lists_vanish() {
        let list = obj(
            json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}]}),
        );
        let null = obj(json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": null}));
        let none = Tracking::default();
        let got = finish(vec![list, null], &none, "app", "ns").unwrap();
        assert_eq!(
            got,
            vec![
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#,
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}"#,
            ]
        );
    }

    #[test]
    fn kind_is_required_but_api_version_is_not() {
        let kind_only = object(json!({"kind": "X"})).unwrap();
        assert_eq!(Value::Object(kind_only), json!({"kind": "X"}));
        assert_eq!(
            object(json!({"apiVersion": "v1"})),
            Err("object has no kind")
        );
        assert_eq!(object(json!({"kind": ""})), Err("object has no kind"));
        assert_eq!(object(json!([1])), Err("document is not an object"));
    }
}
