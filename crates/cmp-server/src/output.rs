//! The `generate` command's stdout to manifests, as upstream's `kube.SplitYAMLToString`:
//! a YAML stream split on `---` lines, or concatenated JSON when it starts with `{`; empty
//! and `null` documents skipped; every other document one compact JSON string. A document
//! that is not an object (text that is not YAML at all reads as one string) is refused here
//! rather than by the repo-server later, with its position.

use serde_json::Value;

/// One JSON object per document, in order.
pub fn manifests(stdout: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(stdout)
        .map_err(|e| format!("failed to unmarshal manifest: output is not UTF-8: {e}"))?;
    repo_render::yaml_documents(text)
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let n = i + 1;
            match doc {
                Ok(Value::Object(object)) => Ok(Value::Object(object).to_string()),
                Ok(other) => Err(format!(
                    "failed to unmarshal manifest: document {n} is {}, not a Kubernetes object; the generate command must print only YAML or JSON objects (log to stderr)",
                    kind(&other)
                )),
                Err(e) => Err(format!("failed to unmarshal manifest: document {n}: {e}")),
            }
        })
        .collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null | Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Upstream's TestGenerateManifest ("successful generate", "bad yaml output").
    #[test]
    fn upstream_cases() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: my-map\ndata:\n  foo: bar\n";
        assert_eq!(
            manifests(cm.as_bytes()).unwrap(),
            [
                r#"{"apiVersion":"v1","data":{"foo":"bar"},"kind":"ConfigMap","metadata":{"name":"my-map"}}"#
            ]
        );
        let e = manifests(b"invalid yaml: }").unwrap_err();
        assert!(e.starts_with("failed to unmarshal manifest"), "{e}");
    }

    #[test]
    fn multi_document_yaml_and_json() {
        let yaml = "---\na: 1\n---\n# only a comment\n---\n\n---\nb: yes\n";
        assert_eq!(
            manifests(yaml.as_bytes()).unwrap(),
            [r#"{"a":1}"#, r#"{"b":true}"#]
        );
        let json = "{\"a\": 1}\n{\"b\": [1, 2]}\n";
        assert_eq!(
            manifests(json.as_bytes()).unwrap(),
            [r#"{"a":1}"#, r#"{"b":[1,2]}"#]
        );
        assert_eq!(manifests(b"").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn garbage_is_named() {
        let e = manifests(b"random garbage, not YAML\n").unwrap_err();
        assert!(e.contains("document 1 is a string"), "{e}");
        let e = manifests(b"a: 1\n---\n- x\n").unwrap_err();
        assert!(e.contains("document 2 is a list"), "{e}");
        let e = manifests(&[0xff, 0xfe]).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
