//! The build environment (`ARGOCD_APP_*`, `KUBE_*`) and upstream's `$VAR` substitution.

use crate::Input;

/// Variables describing the app being rendered.
#[derive(Debug, Clone, Default)]
pub(crate) struct BuildEnv {
    /// The variables upstream substitutes into parameters (its `v1alpha1.Env`).
    app: Vec<(&'static str, String)>,
    /// Extra variables only set in tool processes.
    kube: Vec<(&'static str, String)>,
}

impl BuildEnv {
    pub(crate) fn new(input: &Input<'_>) -> Self {
        let short = |n: usize| input.revision.chars().take(n).collect::<String>();
        let app = vec![
            ("ARGOCD_APP_NAME", input.app_name.to_string()),
            ("ARGOCD_APP_NAMESPACE", input.namespace.to_string()),
            ("ARGOCD_APP_PROJECT_NAME", input.project.to_string()),
            ("ARGOCD_APP_REVISION", input.revision.to_string()),
            ("ARGOCD_APP_REVISION_SHORT", short(7)),
            ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
            ("ARGOCD_APP_SOURCE_REPO_URL", input.repo_url.to_string()),
            ("ARGOCD_APP_SOURCE_PATH", input.source.path().to_string()),
            (
                "ARGOCD_APP_SOURCE_TARGET_REVISION",
                input.source.target_revision().to_string(),
            ),
        ];
        let kube = vec![
            ("KUBE_VERSION", input.kube_version.to_string()),
            ("KUBE_API_VERSIONS", input.api_versions.join(",")),
        ];
        Self { app, kube }
    }

    /// Every variable, for a tool's environment.
    pub(crate) fn vars(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.app
            .iter()
            .chain(&self.kube)
            .map(|(k, v)| (*k, v.as_str()))
    }

    /// Go's `os.Expand` over the app variables: `$NAME` and `${NAME}` are replaced (unknown
    /// names by ""), `$$` gives `$`, malformed `${` is dropped, and a trailing or lone `$`
    /// stays.
    pub(crate) fn subst(&self, s: &str) -> String {
        expand(s, |name| {
            self.app
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
    }
}

/// Go's `os.Expand` with upstream's `Envsubst` mapping: `lookup` answers a name (unknown
/// names give ""), `$$` gives `$`.
pub(crate) fn expand(s: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let lookup = |name: &str| -> String {
        if name == "$" {
            return "$".to_string();
        }
        lookup(name).unwrap_or_default()
    };
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut start = 0;
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.push_str(&s[start..j]);
            let (name, width) = shell_name(&s[j + 1..]);
            match (name, width) {
                ("", 0) => out.push('$'),
                ("", _) => {}
                (name, _) => out.push_str(&lookup(name)),
            }
            j += width;
            start = j + 1;
        }
        j += 1;
    }
    out.push_str(&s[start.min(s.len())..]);
    out
}

/// The variable name at the start of `s` (just after a `$`) and how many bytes it spans.
fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        return match b.iter().skip(1).position(|&c| c == b'}') {
            Some(0) => ("", 2),
            Some(i) => (&s[1..i + 1], i + 2),
            None => ("", 1),
        };
    }
    if is_special(b[0]) {
        return (&s[..1], 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..n], n)
}

fn is_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BuildEnv {
        BuildEnv {
            app: vec![
                ("ARGOCD_APP_NAME", "guestbook".into()),
                ("ARGOCD_APP_REVISION", "0123456789".into()),
            ],
            kube: vec![],
        }
    }

    #[test]
    fn substitutes_like_go_os_expand() {
        let e = env();
        for (input, want) in [
            ("$ARGOCD_APP_NAME", "guestbook"),
            ("${ARGOCD_APP_NAME}-x", "guestbook-x"),
            ("a$ARGOCD_APP_NAME.b", "aguestbook.b"),
            ("$$ARGOCD_APP_NAME", "$ARGOCD_APP_NAME"),
            ("cost: 5$", "cost: 5$"),
            ("$UNKNOWN!", "!"),
            ("${}x", "x"),
            ("${open", "open"),
            ("$1x", "x"),
            ("$ x", "$ x"),
            ("plain", "plain"),
            ("ünï$ARGOCD_APP_REVISION", "ünï0123456789"),
        ] {
            assert_eq!(e.subst(input), want, "{input}");
        }
    }
}
