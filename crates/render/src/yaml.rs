//! YAML and JSON streams to JSON values, with the semantics of upstream's
//! `sigs.k8s.io/yaml` + `YAMLOrJSONDecoder` pipeline: YAML 1.1 scalars (`yes`, `0777`),
//! documents split on `---` lines and decoded one by one, and a stream that starts with `{`
//! read as concatenated JSON.

use serde_json::{Number, Value};
use serde_saphyr::{DuplicateKeyPolicy, Options};

/// One decoded document, or why it could not be decoded.
pub(crate) type Doc = Result<Value, String>;

/// Decodes every document of `text`; empty and `null` documents are dropped.
pub fn documents(text: &str) -> Vec<Doc> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        return serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .map(|d| d.map(normalize).map_err(|e| e.to_string()))
            .filter(|d| !matches!(d, Ok(Value::Null)))
            .collect();
    }
    chunks(text)
        .into_iter()
        .filter_map(|chunk| match parse(chunk) {
            Ok(Value::Null) => None,
            other => Some(other),
        })
        .collect()
}

/// Parses a single YAML document (e.g. a kustomization or Chart.yaml).
pub(crate) fn parse(text: &str) -> Doc {
    let mut options = Options::default();
    options.legacy_octal_numbers = true;
    // go-yaml v2, non-strict, keeps the last of duplicate keys.
    options.duplicate_keys = DuplicateKeyPolicy::LastWins;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| e.to_string())?;
    let mut docs = docs.into_iter();
    let doc = docs.next().map(normalize).unwrap_or(Value::Null);
    match docs.next() {
        None => Ok(doc),
        Some(_) => Err("several documents where one was expected".to_string()),
    }
}

/// Splits a stream where a line starts with `---` followed by nothing but blanks or a
/// comment, as Kubernetes' `YAMLReader` does.
fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if rest.is_empty() || rest.starts_with('#') {
                out.push(&text[start..pos]);
                start = pos + line.len();
            }
        }
        pos += line.len();
    }
    out.push(&text[start..]);
    out
}

/// Go decodes integral floats (`1.0`) to integers on the way through JSON; do the same so the
/// output prints `1`, not `1.0`.
pub(crate) fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                Value::Number(Number::from(f as i64))
            } else {
                Value::Number(n)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(text: &str) -> Vec<Value> {
        documents(text).into_iter().map(Result::unwrap).collect()
    }

    #[test]
    fn yaml_1_1_scalars() {
        let got = ok("a: yes\nb: Off\nc: 0777\nd: 0x1F\ne: ~\nf: 1.0\ng: 1.5\nh: '0777'\n");
        assert_eq!(
            got,
            vec![
                json!({"a": true, "b": false, "c": 511, "d": 31, "e": null, "f": 1, "g": 1.5, "h": "0777"})
            ]
        );
    }

    #[test]
    fn splits_on_separator_lines_only() {
        let text = "a: 1\n--- # next\nb: |\n  ---\n  x\n---\n\n---\nc: 3\n---";
        assert_eq!(
            ok(text),
            vec![json!({"a": 1}), json!({"b": "---\nx\n"}), json!({"c": 3})]
        );
    }

    #[test]
    fn later_duplicate_keys_win() {
        assert_eq!(ok("a: 1\na: 2\n"), vec![json!({"a": 2})]);
    }

    #[test]
    fn json_streams() {
        assert_eq!(
            ok("{\"a\": 1.0}\n{\"b\": 2}"),
            vec![json!({"a": 1}), json!({"b": 2})]
        );
    }

    #[test]
    fn a_bad_document_does_not_hide_the_others() {
        let docs = documents("a: 1\n---\nb: [\n---\nc: 3\n");
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[0], Ok(json!({"a": 1})));
        let err = docs[1].as_ref().unwrap_err();
        assert!(
            err.contains("line 1 column 4: unclosed bracket '['"),
            "{err}"
        );
        assert_eq!(docs[2], Ok(json!({"c": 3})));
    }
}
