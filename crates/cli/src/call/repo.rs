//! The repository a call is about: URL and options from flags, secrets from the environment
//! only (never argv, where any user on the host can read them).

use std::path::PathBuf;

use repo_proto::v1alpha1::Repository;

pub(super) const ENV_USERNAME: &str = "REPOCTL_REPO_USERNAME";
pub(super) const ENV_PASSWORD: &str = "REPOCTL_REPO_PASSWORD";
pub(super) const ENV_BEARER_TOKEN: &str = "REPOCTL_REPO_BEARER_TOKEN";

/// Repository flags shared by every repository RPC.
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// Repository URL (https, http, ssh, git)
    #[arg(long = "repo", value_name = "URL")]
    pub url: String,
    /// SSH private key file for ssh:// repositories
    #[arg(long, value_name = "FILE")]
    pub ssh_private_key_path: Option<PathBuf>,
    /// Skip SSH host key verification
    #[arg(long)]
    pub insecure_ignore_host_key: bool,
    /// Skip TLS verification of an https repository
    #[arg(long)]
    pub insecure: bool,
    /// TLS client certificate for git over https
    #[arg(long, value_name = "FILE", requires = "tls_client_cert_key_path")]
    pub tls_client_cert_path: Option<PathBuf>,
    /// Key of the TLS client certificate
    #[arg(long, value_name = "FILE")]
    pub tls_client_cert_key_path: Option<PathBuf>,
}

fn read(path: &Option<PathBuf>) -> Result<Option<String>, String> {
    path.as_ref()
        .map(|p| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .transpose()
}

impl RepoArgs {
    /// The `Repository` message, with credentials from `REPOCTL_REPO_USERNAME`,
    /// `REPOCTL_REPO_PASSWORD` and `REPOCTL_REPO_BEARER_TOKEN`.
    pub fn repository(&self, env: &dyn repo_env::Env) -> Result<Repository, String> {
        Ok(Repository {
            repo: Some(self.url.clone()),
            username: env.get(ENV_USERNAME),
            password: env.get(ENV_PASSWORD),
            bearer_token: env.get(ENV_BEARER_TOKEN),
            ssh_private_key: read(&self.ssh_private_key_path)?,
            insecure_ignore_host_key: Some(self.insecure_ignore_host_key),
            insecure: Some(self.insecure),
            tls_client_cert_data: read(&self.tls_client_cert_path)?,
            tls_client_cert_key: read(&self.tls_client_cert_key_path)?,
            ..Repository::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_environment() {
        let args = RepoArgs {
            url: "https://git.example/r.git".into(),
            ssh_private_key_path: None,
            insecure_ignore_host_key: false,
            insecure: true,
            tls_client_cert_path: None,
            tls_client_cert_key_path: None,
        };
        let env = repo_env::Map::new([
            (ENV_USERNAME, "bob"),
            (ENV_PASSWORD, "s3cret"),
            (ENV_BEARER_TOKEN, ""),
        ]);
        let repo = args.repository(&env).unwrap();
        assert_eq!(repo.repo.as_deref(), Some("https://git.example/r.git"));
        assert_eq!(repo.username.as_deref(), Some("bob"));
        assert_eq!(repo.password.as_deref(), Some("s3cret"));
        assert_eq!(repo.bearer_token, None, "empty means unset");
        assert_eq!(repo.insecure, Some(true));
    }
}
