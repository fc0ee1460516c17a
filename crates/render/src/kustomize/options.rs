//! Upstream's `KustomizeOptions`: argocd-cm's `kustomize.buildOptions` and
//! `kustomize.path.<version>`, which Argo CD's components send along with every request. Which
//! kustomize binary an app uses (upstream's `GetKustomizeBinaryPath`), what `kustomize build`
//! gets appended, and which of those this server refuses.
//!
//! The options are the operator's, but they reach this server inside requests, so they are
//! held to what a repository must not be able to use: no option that runs programs
//! (`--enable-exec`, `--enable-alpha-plugins`: exec KRM functions and plugins named by the
//! kustomization), writes files (`-o`) or names a helm binary the operator did not install.
//! `--load-restrictor LoadRestrictionsNone` is allowed, as upstream documents it: it lets
//! kustomizations read files outside their directory, which is the operator's choice.

use std::collections::BTreeMap;

use crate::{Error, Tools};

/// The Kustomize settings of the Argo CD instance a request comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kustomize {
    /// `buildOptions`, split on whitespace as upstream splits it.
    pub build_options: Vec<String>,
    /// The deprecated `binaryPath`: when set, every Kustomize app uses it.
    pub binary_path: String,
    /// Registered binaries by version name; the first of a name counts, as upstream's lookup.
    pub versions: BTreeMap<String, String>,
}

/// `kustomize build` options passed on: name and whether it takes a value.
const ALLOWED: [(&str, bool); 9] = [
    ("--enable-helm", false),
    ("--helm-api-versions", true),
    ("--helm-command", true),
    ("--helm-debug", false),
    ("--helm-kube-version", true),
    ("--load-restrictor", true),
    // kustomize v3's spelling.
    ("--load_restrictor", true),
    ("--enable-managedby-label", false),
    ("--stack-trace", false),
];

/// Options refused with a reason of their own.
const REFUSED: [(&str, &str); 5] = [
    (
        "--enable-exec",
        "it lets a repository run programs on the repo-server",
    ),
    (
        "--enable-alpha-plugins",
        "it lets a repository run plugins on the repo-server",
    ),
    (
        "--enable_alpha_plugins",
        "it lets a repository run plugins on the repo-server",
    ),
    ("-o", "it writes files on the repo-server"),
    ("--output", "it writes files on the repo-server"),
];

impl Kustomize {
    pub fn new(
        build_options: &str,
        binary_path: &str,
        versions: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut by_name = BTreeMap::new();
        for (name, path) in versions {
            by_name.entry(name).or_insert(path);
        }
        Self {
            build_options: build_options.split_whitespace().map(String::from).collect(),
            binary_path: binary_path.to_string(),
            versions: by_name,
        }
    }

    /// Everything that changes a render, for cache keys.
    pub fn key(&self) -> Vec<u8> {
        format!("{self:?}").into_bytes()
    }

    /// The binary `version` (the source's `kustomize.version`) selects, as upstream's
    /// `GetKustomizeBinaryPath`: `binaryPath` when set, else the registered version, else
    /// `None` for the default binary. An unregistered version is an error naming it.
    pub(crate) fn binary(&self, version: &str) -> Result<Option<&str>, Error> {
        if !self.binary_path.is_empty() {
            return Ok(Some(&self.binary_path));
        }
        if version.is_empty() {
            return Ok(None);
        }
        match self.versions.get(version) {
            Some(path) => Ok(Some(path)),
            None => Err(Error::InvalidArgument(format!(
                "kustomize version {version} is not registered; register its binary as \
                 kustomize.path.{version} in argocd-cm"
            ))),
        }
    }

    /// The build options, once each is known to be safe to pass.
    pub(crate) fn checked(&self, tools: &Tools) -> Result<&[String], Error> {
        let refuse = |what: &str, why: &str| {
            Error::InvalidArgument(format!(
                "kustomize build option {what} is refused: {why}; remove it from \
                 kustomize.buildOptions in argocd-cm"
            ))
        };
        let mut words = self.build_options.iter();
        while let Some(word) = words.next() {
            let (name, inline) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (word.as_str(), None),
            };
            if !name.starts_with('-') {
                return Err(refuse(word, "it is not an option"));
            }
            if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
                return Err(refuse(name, why));
            }
            let Some(&(_, takes_value)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
                let allowed: Vec<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
                let why = format!(
                    "this repo-server passes only {} to kustomize build",
                    allowed.join(", ")
                );
                return Err(refuse(name, &why));
            };
            let value = match (takes_value, inline) {
                (true, None) => words.next().map(String::as_str),
                (_, value) => value,
            };
            if let ("--helm-command", Some(program)) = (name, value) {
                tools
                    .program(program, "helm")
                    .map_err(|why| refuse(name, &why))?;
            }
        }
        Ok(&self.build_options)
    }

    /// Whether the options enable Helm charts, by upstream's rule (the text contains
    /// `--enable-helm`).
    pub(crate) fn helm(&self) -> bool {
        self.build_options
            .iter()
            .any(|o| o.contains("--enable-helm"))
    }
}

/// Whether a `kustomize version` output names a kustomize that takes `--helm-kube-version`
/// and `--helm-api-versions` (5.3.0 and later). Output without a version (a development
/// build) counts as the latest, as upstream's `getSemverSafe`.
pub(crate) fn takes_helm_versions(version_output: &str) -> bool {
    let text = version_output.as_bytes();
    let Some(start) = text.iter().position(u8::is_ascii_digit) else {
        return true;
    };
    let numbers: Vec<u64> = version_output[start..]
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or_default()
        .split('.')
        .take(3)
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let part = |i: usize| numbers.get(i).copied().unwrap_or(0);
    (part(0), part(1), part(2)) >= (5, 3, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Tools {
        Tools::discover()
    }

    fn message(err: Error) -> String {
        match err {
            Error::InvalidArgument(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_split_on_whitespace_as_upstream() {
        let k = Kustomize::new(
            " --enable-helm\t--load-restrictor  LoadRestrictionsNone\n",
            "",
            [],
        );
        assert_eq!(
            k.build_options,
            ["--enable-helm", "--load-restrictor", "LoadRestrictionsNone"]
        );
        assert!(k.helm());
        assert_eq!(k.checked(&tools()).unwrap(), k.build_options);
        assert!(!Kustomize::new("--load-restrictor=LoadRestrictionsNone", "", []).helm());
        assert!(Kustomize::new("--enable-helm=true", "", []).helm());
    }

    /// Upstream's `GetKustomizeBinaryPath`: binaryPath first, then the version, first entry of
    /// a name wins; no version means the default binary.
    #[test]
    fn binaries_are_chosen_as_upstream() {
        let versions = [
            ("v4".to_string(), "/opt/k4".to_string()),
            ("v4".to_string(), "/opt/other".to_string()),
        ];
        let k = Kustomize::new("", "", versions.clone());
        assert_eq!(k.binary("v4").unwrap(), Some("/opt/k4"));
        assert_eq!(k.binary("").unwrap(), None);
        assert_eq!(
            message(k.binary("v1.2.3").unwrap_err()),
            "kustomize version v1.2.3 is not registered; register its binary as \
             kustomize.path.v1.2.3 in argocd-cm"
        );
        let legacy = Kustomize::new("", "/opt/legacy", versions);
        assert_eq!(legacy.binary("v1.2.3").unwrap(), Some("/opt/legacy"));
    }

    #[test]
    fn options_that_run_programs_or_write_files_are_refused() {
        for (options, named, why) in [
            ("--enable-exec", "--enable-exec", "run programs"),
            (
                "--enable-helm --enable-alpha-plugins",
                "--enable-alpha-plugins",
                "run plugins",
            ),
            ("-o out", "-o", "writes files"),
            ("--output=/x", "--output", "writes files"),
            ("-e FOO=1", "-e", "passes only --enable-helm"),
            ("--network", "--network", "passes only --enable-helm"),
            (
                "--load-restrictor LoadRestrictionsNone extra",
                "extra",
                "not an option",
            ),
            ("--helm-command ./helm", "--helm-command", "absolute path"),
            (
                "--helm-command=/nonexistent/helm",
                "--helm-command",
                "does not exist",
            ),
        ] {
            let err = message(
                Kustomize::new(options, "", [])
                    .checked(&tools())
                    .unwrap_err(),
            );
            assert!(
                err.starts_with(&format!("kustomize build option {named} is refused: "))
                    && err.contains(why)
                    && err.ends_with("remove it from kustomize.buildOptions in argocd-cm"),
                "{options}: {err}"
            );
        }
        // A value is not taken for an option.
        let k = Kustomize::new("--helm-kube-version --enable-exec", "", []);
        assert_eq!(k.checked(&tools()).unwrap(), k.build_options);
    }

    #[test]
    fn helm_versions_need_kustomize_5_3() {
        for (output, takes) in [
            ("v5.3.0", true),
            ("v5.8.1\n", true),
            ("v5.2.1", false),
            ("{kustomize/v4.5.7  2022-08-02T16:35:54Z  }", false),
            (
                "{Version:kustomize/v3.8.1 GitCommit:0b359d0ef0272e6545eda0e99aacd63aef99c4d0}",
                false,
            ),
            ("v10.0.0", true),
            ("(devel)", true),
            ("", true),
        ] {
            assert_eq!(takes_helm_versions(output), takes, "{output}");
        }
    }
}
