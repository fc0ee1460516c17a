//! Per-identity authorization: which verified client may call which RPC.
//!
//! ```yaml
//! rules:
//!   - identities: ["argocd-server", "argocd-application-controller"]
//!     methods: ["*"]
//!   - identities: ["argocd-notifications-controller"]
//!     methods: ["GetAppDetails", "GetRevisionMetadata"]
//! ```
//! An identity matches the certificate's CN, any DNS SAN or any URI SAN; `"*"` matches any
//! authenticated client. A method is an RPC name of `repository.RepoServerService` or a full
//! gRPC path (`/version.VersionService/Version`); `"*"` matches every method.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::Identity;

/// The service whose RPCs may be named without their path.
pub const SERVICE: &str = "repository.RepoServerService";

/// The RPCs of [`SERVICE`].
pub const RPCS: [&str; 16] = [
    "GenerateManifest",
    "GenerateManifestWithFiles",
    "TestRepository",
    "ResolveRevision",
    "ListRefs",
    "ListOCITags",
    "ListApps",
    "ListPlugins",
    "GetAppDetails",
    "GetRevisionMetadata",
    "GetOCIMetadata",
    "GetRevisionChartDetails",
    "GetHelmCharts",
    "GetGitFiles",
    "GetGitDirectories",
    "UpdateRevisionForPaths",
];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read authorization policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid authorization policy: {detail}")]
    Syntax { path: PathBuf, detail: String },
    #[error("{path}:{line}: {detail}")]
    Rule {
        path: PathBuf,
        line: usize,
        detail: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    rules: Vec<RuleText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    // Located by the parser: a text search would name the first rule with the same word.
    identities: Spanned<Vec<String>>,
    methods: Spanned<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    Any,
    Path(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    identities: Vec<String>,
    methods: Vec<Method>,
}

/// A parsed allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
}

/// The outcome of a check: the index of the first rule that allows the call, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { rule: usize },
    Denied,
}

fn method(name: &str) -> Result<Method, String> {
    if name == "*" {
        return Ok(Method::Any);
    }
    if let Some(rest) = name.strip_prefix('/') {
        let valid = rest.split_once('/').is_some_and(|(service, rpc)| {
            !service.is_empty() && !rpc.is_empty() && !rpc.contains('/')
        });
        return if valid {
            Ok(Method::Path(name.to_string()))
        } else {
            Err(format!(
                "method {name:?} is not a gRPC path like /package.Service/Method"
            ))
        };
    }
    if RPCS.contains(&name) {
        return Ok(Method::Path(format!("/{SERVICE}/{name}")));
    }
    Err(format!(
        "unknown method {name:?}: use \"*\", an RPC of {SERVICE} ({}) or a full path like /version.VersionService/Version",
        RPCS.join(", ")
    ))
}

impl Policy {
    /// Parses and validates a policy; errors name the file and, for rule errors, the line.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PolicyError> {
        let document: Document = serde_saphyr::from_str(text).map_err(|e| PolicyError::Syntax {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mut rules = Vec::new();
        for (i, rule) in document.rules.into_iter().enumerate() {
            let at = |at: &Location, detail: String| PolicyError::Rule {
                path: path.to_path_buf(),
                line: usize::try_from(at.line()).unwrap_or(usize::MAX),
                detail,
            };
            let identities = &rule.identities.value;
            if identities.is_empty() || identities.iter().any(|id| id.trim().is_empty()) {
                return Err(at(
                    &rule.identities.referenced,
                    format!("rule {} needs at least one non-empty identity", i + 1),
                ));
            }
            if rule.methods.value.is_empty() {
                return Err(at(
                    &rule.methods.referenced,
                    format!("rule {} needs at least one method", i + 1),
                ));
            }
            let methods = rule
                .methods
                .value
                .iter()
                .map(|m| method(&m.value).map_err(|detail| at(&m.referenced, detail)))
                .collect::<Result<_, _>>()?;
            rules.push(Rule {
                identities: rule.identities.value,
                methods,
            });
        }
        Ok(Self { rules })
    }

    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Whether `identity` may call the gRPC `path` (e.g. `/repository.RepoServerService/ListRefs`).
    pub fn decide(&self, identity: &Identity, path: &str) -> Decision {
        let names: Vec<&str> = identity
            .common_name
            .iter()
            .chain(&identity.dns)
            .chain(&identity.uris)
            .map(String::as_str)
            .collect();
        self.rules
            .iter()
            .position(|rule| {
                let who = rule
                    .identities
                    .iter()
                    .any(|id| id == "*" || names.contains(&id.as_str()));
                let what = rule.methods.iter().any(|m| match m {
                    Method::Any => true,
                    Method::Path(p) => p == path,
                });
                who && what
            })
            .map_or(Decision::Denied, |rule| Decision::Allowed { rule })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"rules:
  - identities: ["argocd-server", "argocd-application-controller", "argocd-applicationset-controller"]
    methods: ["*"]
  - identities: ["argocd-notifications-controller"]
    methods: ["GetAppDetails", "GetRevisionMetadata"]
  - identities: ["spiffe://cluster.local/ns/argocd/sa/auditor"]
    methods: ["/version.VersionService/Version"]
"#;

    fn id(cn: &str, uris: &[&str]) -> Identity {
        Identity {
            common_name: Some(cn.into()),
            uris: uris.iter().map(|u| u.to_string()).collect(),
            ..Identity::default()
        }
    }

    fn path(rpc: &str) -> String {
        format!("/{SERVICE}/{rpc}")
    }

    #[test]
    fn denies_what_no_rule_allows() {
        let p = Policy::parse(EXAMPLE, Path::new("p.yaml")).unwrap();
        let notifications = id("argocd-notifications-controller", &[]);
        assert_eq!(
            p.decide(&notifications, &path("GenerateManifest")),
            Decision::Denied
        );
        assert_eq!(
            p.decide(&id("stranger", &[]), &path("ListRefs")),
            Decision::Denied
        );
        assert_eq!(
            p.decide(&notifications, "/version.VersionService/Version"),
            Decision::Denied
        );
    }

    #[test]
    fn allows_by_cn_san_and_method_forms() {
        let p = Policy::parse(EXAMPLE, Path::new("p.yaml")).unwrap();
        let notifications = id("argocd-notifications-controller", &[]);
        assert_eq!(
            p.decide(&notifications, &path("GetAppDetails")),
            Decision::Allowed { rule: 1 }
        );
        assert_eq!(
            p.decide(&id("argocd-server", &[]), &path("GenerateManifest")),
            Decision::Allowed { rule: 0 }
        );
        let auditor = id("whatever", &["spiffe://cluster.local/ns/argocd/sa/auditor"]);
        assert_eq!(
            p.decide(&auditor, "/version.VersionService/Version"),
            Decision::Allowed { rule: 2 }
        );
        let by_dns = Identity {
            dns: vec!["argocd-server".into()],
            ..Identity::default()
        };
        assert!(matches!(
            p.decide(&by_dns, &path("ListRefs")),
            Decision::Allowed { .. }
        ));
        let any = Policy::parse(
            "rules:\n  - identities: ['*']\n    methods: [ListRefs]\n",
            Path::new("p"),
        )
        .unwrap();
        assert!(matches!(
            any.decide(&id("x", &[]), &path("ListRefs")),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn shipped_example_is_valid_and_matches_what_components_call() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/examples/authorization-policy.yaml");
        let p = Policy::load(&file).unwrap();
        let controller = id("argocd-application-controller", &[]);
        assert!(matches!(
            p.decide(&controller, &path("UpdateRevisionForPaths")),
            Decision::Allowed { .. }
        ));
        assert_eq!(
            p.decide(&controller, &path("TestRepository")),
            Decision::Denied
        );
        let appset = id("argocd-applicationset-controller", &[]);
        assert!(matches!(
            p.decide(&appset, &path("GetGitFiles")),
            Decision::Allowed { .. }
        ));
        assert_eq!(
            p.decide(&appset, &path("GenerateManifest")),
            Decision::Denied
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad = "rules:\n  - identities: [a]\n    methods: [GenerateManifests]\n";
        let err = Policy::parse(bad, Path::new("/etc/policy.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/etc/policy.yaml:3: unknown method \"GenerateManifests\""),
            "{err}"
        );
        let err = Policy::parse(
            "rules:\n  - identities: []\n    methods: ['*']\n",
            Path::new("p"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("p:2: rule 1 needs"), "{err}");
        let err = Policy::parse(
            "rules:\n  - identities: [a]\n    methodz: ['*']\n",
            Path::new("p"),
        )
        .unwrap_err();
        assert!(matches!(err, PolicyError::Syntax { .. }), "{err}");
        assert!(Policy::parse("rules: [", Path::new("p")).is_err());
        let err = Policy::parse(
            "rules:\n  - identities: [a]\n    methods: [/nope]\n",
            Path::new("p"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a gRPC path"), "{err}");
    }
}
