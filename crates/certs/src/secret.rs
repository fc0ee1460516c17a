//! Kubernetes Secret manifests. Written by hand: names and keys are plain scalars checked
//! beforehand and every value is base64, so there is nothing a YAML library would add.

use std::fmt::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The Secret `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Opaque,
    Tls,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Opaque => "Opaque",
            Kind::Tls => "kubernetes.io/tls",
        }
    }
}

/// One Secret: name, type and `data` entries in order.
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub name: String,
    pub kind: Kind,
    pub data: Vec<(String, String)>,
}

impl Secret {
    pub(crate) fn new(name: impl Into<String>, kind: Kind) -> Self {
        Self {
            name: name.into(),
            kind,
            data: Vec::new(),
        }
    }

    pub(crate) fn with(mut self, key: impl Into<String>, value: &str) -> Self {
        self.data.push((key.into(), value.to_string()));
        self
    }
}

/// A multi-document manifest of `secrets` in `namespace`, after a comment header.
pub(crate) fn manifest(header: &str, namespace: &str, secrets: &[Secret]) -> String {
    // Writing into a String cannot fail, hence the ignored results.
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    for secret in secrets {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    app.kubernetes.io/name: {name}\n    app.kubernetes.io/part-of: argocd\ntype: {kind}\ndata:\n",
            name = secret.name,
            kind = secret.kind.as_str(),
        );
        for (key, value) in &secret.data {
            let _ = writeln!(out, "  {key}: {}", STANDARD.encode(value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_base64_data_in_order() {
        let yaml = manifest(
            "two\nlines",
            "ns",
            &[Secret::new("s", Kind::Tls)
                .with("tls.crt", "a")
                .with("tls.key", "b")],
        );
        assert_eq!(
            yaml,
            "# two\n# lines\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\n  labels:\n    app.kubernetes.io/name: s\n    app.kubernetes.io/part-of: argocd\ntype: kubernetes.io/tls\ndata:\n  tls.crt: YQ==\n  tls.key: Yg==\n"
        );
    }
}
