//! The environment every git command starts from: nothing inherited but `PATH` and CA
//! locations; no system or global config; no prompts; only the allowed transports. Proxies
//! are chosen per repository (`proxy.rs`), never inherited: a pod variable would otherwise
//! override a repository's `noProxy`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::layout::Layout;

/// Inherited because deployments may point the TLS library at their system roots.
const PASSED: &[&str] = &["SSL_CERT_FILE", "SSL_CERT_DIR"];

const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

#[derive(Clone, Debug)]
pub(crate) struct Env {
    pub(crate) vars: Vec<(String, OsString)>,
    /// Config pairs given to every command through `GIT_CONFIG_COUNT`/`_KEY_n`/`_VALUE_n`.
    pub(crate) config: Vec<(String, String)>,
    /// The cache directory, hidden from the messages of failed commands.
    pub(crate) root: PathBuf,
}

impl Env {
    pub(crate) fn new(layout: &Layout, allow_file: bool) -> Self {
        let path = std::env::var_os("PATH").unwrap_or_else(|| FALLBACK_PATH.into());
        let mut vars: Vec<(String, OsString)> = vec![
            ("PATH".into(), path),
            ("HOME".into(), layout.home.clone().into()),
            // Repository discovery must never climb out of the cache into a repository around it.
            ("GIT_CEILING_DIRECTORIES".into(), layout.root.clone().into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_ASKPASS".into(), layout.askpass.clone().into()),
            ("GIT_LFS_SKIP_SMUDGE".into(), "1".into()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_NO_REPLACE_OBJECTS".into(), "1".into()),
            ("TMPDIR".into(), layout.scratch.clone().into()),
            // Messages are matched to classify failures.
            ("LC_ALL".into(), "C".into()),
            ("LANGUAGE".into(), "C".into()),
        ];
        for name in PASSED {
            if let Some(value) = std::env::var_os(name) {
                vars.push(((*name).into(), value));
            }
        }
        let file = if allow_file { "always" } else { "never" };
        let config = [
            ("protocol.allow", "never"),
            ("protocol.https.allow", "always"),
            ("protocol.http.allow", "always"),
            ("protocol.ssh.allow", "always"),
            ("protocol.git.allow", "always"),
            ("protocol.file.allow", file),
            ("protocol.ext.allow", "never"),
            // An empty value clears helpers: credentials come only from the askpass helper.
            ("credential.helper", ""),
            ("core.hooksPath", "/dev/null"),
            ("core.fsmonitor", "false"),
            // Readers run concurrently with fetches; nothing may repack or prune under them.
            ("gc.auto", "0"),
            ("maintenance.auto", "false"),
            ("fetch.recurseSubmodules", "false"),
            // Always index into a pack: a killed fetch then leaves a temporary pack the sweep
            // removes, not loose objects that nothing references.
            ("fetch.unpackLimit", "1"),
            ("init.defaultBranch", "main"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Self {
            vars,
            config,
            root: layout.root.clone(),
        }
    }
}
