//! Repository credentials, as upstream's `Repository` message carries them.

use std::fmt;
use std::sync::Arc;

use crate::{Invalid, Remote};

/// Credentials of a repository, as in upstream's `Repository` message. Empty strings mean
/// "not set". `Debug` shows only which fields are set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Creds {
    pub username: String,
    pub password: String,
    pub bearer_token: String,
    pub ssh_private_key: String,
    pub insecure_ignore_host_key: bool,
    /// Skip TLS verification for https.
    pub insecure: bool,
    pub tls_client_cert_data: String,
    pub tls_client_cert_key: String,
    /// `ssh_known_hosts` content; when empty, `$SSH_KNOWN_HOSTS` (read at startup) is used.
    pub known_hosts: String,
    /// The repository's own `proxy` (else the pod's `HTTPS_PROXY`/`HTTP_PROXY`) and `noProxy`.
    pub proxy: String,
    pub no_proxy: String,
    /// Upstream's `forceHttpBasicAuth`: Basic credentials go with the first request instead of
    /// after a 401 challenge.
    pub force_http_basic_auth: bool,
    /// GitHub App credentials (`githubAppID`, `githubAppInstallationID` — 0: found by the
    /// repository's organization —, `githubAppPrivateKey` in PEM, `githubAppEnterpriseBaseUrl`
    /// — empty: api.github.com): git over http(s) uses an installation token.
    pub github_app_id: i64,
    pub github_app_installation_id: i64,
    pub github_app_private_key: String,
    pub github_app_enterprise_base_url: String,
}

/// A repository: its parsed URL and credentials, shared (not copied) by everything that serves
/// one request. `Debug` strips userinfo from the URL and hides the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Repo {
    pub remote: Remote,
    pub creds: Arc<Creds>,
    /// Upstream's `enableLfs`: Git LFS pointer files are replaced by their objects in
    /// checkouts. Off (the default), pointers stay pointers, as upstream.
    pub lfs: bool,
}

// === impl Creds ===

impl Creds {
    /// Every value that must never appear in output.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![
            self.password.clone(),
            self.bearer_token.clone(),
            self.ssh_private_key.clone(),
            self.tls_client_cert_key.clone(),
            self.github_app_private_key.clone(),
        ];
        // A proxy URL may carry its own userinfo.
        if let Some((userinfo, _)) = self
            .proxy
            .split_once("://")
            .and_then(|(_, rest)| rest.rsplit_once('@'))
        {
            secrets.push(userinfo.to_string());
        }
        // A username without a password is usually a token.
        if self.password.is_empty() {
            secrets.push(self.username.clone());
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &str| if s.is_empty() { "<empty>" } else { "<set>" };
        f.debug_struct("Creds")
            .field("username", &set(&self.username))
            .field("password", &set(&self.password))
            .field("bearer_token", &set(&self.bearer_token))
            .field("ssh_private_key", &set(&self.ssh_private_key))
            .field("insecure_ignore_host_key", &self.insecure_ignore_host_key)
            .field("insecure", &self.insecure)
            .field("tls_client_cert_data", &set(&self.tls_client_cert_data))
            .field("tls_client_cert_key", &set(&self.tls_client_cert_key))
            .field("known_hosts", &set(&self.known_hosts))
            .field("proxy", &set(&self.proxy))
            .field("no_proxy", &self.no_proxy)
            .field("force_http_basic_auth", &self.force_http_basic_auth)
            .field("github_app_id", &self.github_app_id)
            .field(
                "github_app_installation_id",
                &self.github_app_installation_id,
            )
            .field("github_app_private_key", &set(&self.github_app_private_key))
            .field(
                "github_app_enterprise_base_url",
                &self.github_app_enterprise_base_url,
            )
            .finish()
    }
}

// === impl Repo ===

impl Repo {
    pub fn new(url: &str, creds: Creds) -> Result<Self, Invalid> {
        Ok(Self {
            remote: Remote::parse(url)?,
            creds: Arc::new(creds),
            lfs: false,
        })
    }

    /// The repository with upstream's `enableLfs` set to `lfs`.
    pub fn with_lfs(mut self, lfs: bool) -> Self {
        self.lfs = lfs;
        self
    }

    /// The URL fit for messages and logs (no userinfo).
    pub fn url(&self) -> &str {
        &self.remote.url
    }
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo")
            .field("url", &self.remote.url)
            .field("creds", &self.creds)
            .field("lfs", &self.lfs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let repo = Repo::new(
            "https://alice:s3cret-url@host/r.git",
            Creds {
                username: "alice".into(),
                password: "s3cret-pass".into(),
                bearer_token: "s3cret-token".into(),
                ssh_private_key: "s3cret-key".into(),
                tls_client_cert_key: "s3cret-tls".into(),
                github_app_id: 7,
                github_app_private_key: "s3cret-app-key".into(),
                ..Creds::default()
            },
        )
        .unwrap();
        let shown = format!("{repo:?} {repo:#?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("https://host/r.git"), "{shown}");
        assert!(repo.creds.secrets().contains(&"s3cret-app-key".to_string()));
    }
}
