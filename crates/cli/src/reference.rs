//! `docs/flags.md`, generated from the flag definitions and the metrics registry, so the
//! reference cannot drift from the code (a test compares the file with this output).

use clap::{Args, Command};
use repo_server::config::upstream::HEADING;

/// Splits clap help text into (description, env var, default) — the help strings carry
/// `[env: …]` and `[default: …]` the way upstream's flag docs show them.
fn parts(help: &str) -> (String, String, String) {
    let mut text = help.to_string();
    let mut take = |tag: &str| -> String {
        let open = format!("[{tag}: ");
        let Some(start) = text.find(&open) else {
            return String::new();
        };
        let Some(len) = text[start..].find(']') else {
            return String::new();
        };
        let value = text[start + open.len()..start + len].to_string();
        text.replace_range(start..start + len + 1, "");
        value
    };
    let env = take("env");
    let default = take("default");
    (
        text.split_whitespace().collect::<Vec<_>>().join(" "),
        env,
        default,
    )
}

/// The flags under `heading` (`None`: those without one).
fn table(command: &Command, heading: Option<&str>) -> String {
    let mut out = String::from(
        "| Flag | Environment variable | Default | Description |\n|---|---|---|---|\n",
    );
    for arg in command.get_arguments() {
        if arg.get_help_heading() != heading {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let (text, env, default) = parts(&help);
        let code = |s: &str| {
            if s.is_empty() {
                "—".to_string()
            } else {
                format!("`{s}`")
            }
        };
        out.push_str(&format!(
            "| `--{long}` | {} | {} | {} |\n",
            code(&env),
            code(&default),
            text.replace('|', "\\|")
        ));
    }
    out
}

/// The whole generated document.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Flags and metrics (generated)\n\nGenerated from the code by `repoctl docs`; a test fails when this file and the code disagree.\nRegenerate with `cargo run -q -p repo-cli --bin repoctl -- docs > docs/flags.md`.\n\n",
    );
    out.push_str("## argocd-repo-server\n\n");
    let server = repo_server::Flags::augment_args(Command::new("argocd-repo-server"));
    out.push_str(&table(&server, None));
    out.push_str(&format!(
        "\n### {HEADING}\n\nUpstream's flags that start the server but have no effect here; each one given is named in one warning at start. Every upstream setting and its status: [upstream settings](upstream-settings.md).\n\n"
    ));
    out.push_str(&table(&server, Some(HEADING)));
    out.push_str("\n## Clients (`repoctl call`, and every Argo CD component)\n\nEnvironment variables are `ARGOCD_<PREFIX>_…` with the component's prefix (see [components](components.md)).\n\n");
    out.push_str(&table(
        &repo_client::Flags::augment_args(Command::new("repoctl call")),
        None,
    ));
    out.push_str("\n## Metrics\n\n| Metric | Type | Description |\n|---|---|---|\n");
    for (name, kind, help) in repo_server::metric_catalog() {
        let suffix = if kind == "counter" { "_total" } else { "" };
        out.push_str(&format!("| `{name}{suffix}` | {kind} | {help} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_parts() {
        let (text, env, default) = parts("Listen here [env: A_B] [default: 8081]");
        assert_eq!(
            (text.as_str(), env.as_str(), default.as_str()),
            ("Listen here", "A_B", "8081")
        );
    }

    #[test]
    fn docs_flags_md_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/flags.md");
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == markdown(),
            "docs/flags.md is out of date; run: cargo run -q -p repo-cli --bin repoctl -- docs > docs/flags.md"
        );
    }

    #[test]
    fn every_server_env_var_is_documented() {
        let doc = markdown();
        for env in [
            "ARGOCD_REPO_SERVER_CLIENT_CA_PATH",
            "ARGOCD_TLS_CIPHERS",
            "ARGOCD_REPO_SERVER_MAX_CONNECTION_AGE",
        ] {
            assert!(doc.contains(env), "{env} missing");
        }
        assert!(doc.contains("argocd_repo_server_tls_handshake_failures_total"));
    }

    #[test]
    fn every_upstream_setting_has_a_status_in_docs() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/upstream-settings.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let server = repo_server::Flags::augment_args(Command::new("argocd-repo-server"));
        let mut names: Vec<String> = Vec::new();
        for arg in server.get_arguments() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let (_, env, _) = parts(&help);
            names.extend(arg.get_long().map(|l| format!("`--{l}`")));
            names.extend((!env.is_empty()).then(|| format!("`{env}`")));
        }
        for setting in repo_server::config::upstream::UNIMPLEMENTED {
            names.extend(setting.env.map(|e| format!("`{e}`")));
        }
        let missing: Vec<&String> = names.iter().filter(|n| !doc.contains(n.as_str())).collect();
        assert!(
            missing.is_empty(),
            "docs/upstream-settings.md lacks {missing:?}"
        );
    }
}
