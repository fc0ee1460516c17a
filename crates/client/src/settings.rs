//! Client flags and their resolution against the environment (upstream §2.3–2.5 rules).

use std::path::{Path, PathBuf};
use std::time::Duration;

use repo_env::Env;

use crate::Component;

pub(crate) const DEFAULT_ADDRESS: &str = "argocd-repo-server:8081";
pub(crate) const DEFAULT_CLIENT_CERT: &str = "/app/config/reposerver/mtls/client.crt";
pub(crate) const DEFAULT_CLIENT_KEY: &str = "/app/config/reposerver/mtls/client.key";
pub(crate) const DEFAULT_APP_CONF_PATH: &str = "/app/config";
const DEFAULT_TIMEOUT_SECONDS: u64 = 60;
const NOTIFICATIONS_TIMEOUT_SECONDS: u64 = 5;

/// The client flags every component registers (same names in each).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// Repo-server address (host:port) [default: argocd-repo-server:8081]
    #[arg(long, value_name = "HOST:PORT")]
    pub repo_server: Option<String>,
    /// Use a plaintext (h2c) connection to the repo-server
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub repo_server_plaintext: Option<bool>,
    /// Deprecated: verify the repo-server certificate using the legacy CA locations; use --repo-server-ca-cert-path
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub repo_server_strict_tls: Option<bool>,
    /// PEM CA bundle to verify the repo-server certificate (enables strict verification)
    #[arg(long, value_name = "PATH")]
    pub repo_server_ca_cert_path: Option<String>,
    /// Client certificate presented to the repo-server when the file exists [default: /app/config/reposerver/mtls/client.crt]
    #[arg(long, value_name = "PATH")]
    pub repo_server_client_cert_path: Option<String>,
    /// Key of the client certificate [default: /app/config/reposerver/mtls/client.key]
    #[arg(long, value_name = "PATH")]
    pub repo_server_client_cert_key_path: Option<String>,
    /// RPC timeout in seconds (0 = none) [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub repo_server_timeout_seconds: Option<u64>,
}

/// Resolved client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub component: Component,
    pub address: String,
    pub plaintext: bool,
    /// CA files the server certificate is verified against; empty means not verified.
    pub server_ca: Vec<PathBuf>,
    /// Certificate and key presented when the certificate file exists.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("--repo-server-client-cert-key-path is required when --repo-server-client-cert-path is specified")]
    KeyRequired,
    #[error("--repo-server-client-cert-path is required when --repo-server-client-cert-key-path is specified")]
    CertRequired,
    #[error("--repo-server-strict-tls is set but neither {0} nor {1} exists; set --repo-server-ca-cert-path to the CA of the repo-server certificate")]
    NoLegacyCa(PathBuf, PathBuf),
}

impl Settings {
    /// Applies upstream's rules: flag, else non-empty env, else default; plaintext overrides
    /// TLS; strict = CA path set OR legacy flag; the legacy flag alone looks for `tls.crt` and
    /// `ca.crt` in the component's `argocd-repo-server-tls` mount.
    pub fn resolve(
        component: Component,
        flags: Flags,
        env: &dyn Env,
    ) -> Result<Self, SettingsError> {
        let address = flags
            .repo_server
            .or_else(|| component.address_env().and_then(|k| env.get(&k)))
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        let plaintext = repo_env::boolean(
            flags.repo_server_plaintext,
            env,
            &component.env("REPO_SERVER_PLAINTEXT"),
            false,
        );
        let legacy_strict = flags
            .repo_server_strict_tls
            .or_else(|| component.strict_env().and_then(|k| env.bool(&k)))
            .unwrap_or(false);
        let ca = repo_env::string(
            flags.repo_server_ca_cert_path,
            env,
            &component.env("REPO_SERVER_CA_CERT_PATH"),
            "",
        );
        let cert = repo_env::string(
            flags.repo_server_client_cert_path,
            env,
            &component.env("REPO_SERVER_CLIENT_CERT_PATH"),
            DEFAULT_CLIENT_CERT,
        );
        let key = repo_env::string(
            flags.repo_server_client_cert_key_path,
            env,
            &component.env("REPO_SERVER_CLIENT_CERT_KEY_PATH"),
            DEFAULT_CLIENT_KEY,
        );
        let client_cert = match (cert.is_empty(), key.is_empty()) {
            (false, false) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (false, true) => return Err(SettingsError::KeyRequired),
            (true, false) => return Err(SettingsError::CertRequired),
            (true, true) => None,
        };
        let timeout_seconds = match component.timeout_env() {
            None => NOTIFICATIONS_TIMEOUT_SECONDS,
            Some(key) => flags
                .repo_server_timeout_seconds
                .or_else(|| env.get(&key).and_then(|v| v.parse().ok()))
                .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        };
        let mut server_ca = Vec::new();
        if !plaintext {
            if !ca.is_empty() {
                server_ca.push(PathBuf::from(ca));
            } else if legacy_strict {
                let base =
                    repo_env::string(None, env, "ARGOCD_APP_CONF_PATH", DEFAULT_APP_CONF_PATH);
                let dir = Path::new(&base).join(component.legacy_tls_dir());
                let candidates = [dir.join("tls.crt"), dir.join("ca.crt")];
                server_ca.extend(candidates.iter().filter(|p| p.exists()).cloned());
                if server_ca.is_empty() {
                    let [a, b] = candidates;
                    return Err(SettingsError::NoLegacyCa(a, b));
                }
            }
        }
        Ok(Self {
            component,
            address,
            plaintext,
            server_ca,
            client_cert: if plaintext { None } else { client_cert },
            timeout: (timeout_seconds > 0).then(|| Duration::from_secs(timeout_seconds)),
        })
    }

    /// Whether the server certificate is verified.
    pub fn strict(&self) -> bool {
        !self.server_ca.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo_env::Map;

    fn resolve(
        component: Component,
        flags: Flags,
        env: &[(&str, &str)],
    ) -> Result<Settings, SettingsError> {
        Settings::resolve(component, flags, &Map::new(env.iter().copied()))
    }

    #[test]
    fn defaults_match_upstream() {
        let s = resolve(Component::Server, Flags::default(), &[]).unwrap();
        assert_eq!(s.address, DEFAULT_ADDRESS);
        assert!(!s.plaintext && !s.strict());
        assert_eq!(
            s.client_cert,
            Some((DEFAULT_CLIENT_CERT.into(), DEFAULT_CLIENT_KEY.into()))
        );
        assert_eq!(s.timeout, Some(Duration::from_secs(60)));
        let n = resolve(Component::NotificationsController, Flags::default(), &[]).unwrap();
        assert_eq!(n.timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn env_is_per_component() {
        let env = [
            ("ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER", "ctrl:1"),
            (
                "ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER_CA_CERT_PATH",
                "/ca.crt",
            ),
            ("ARGOCD_SERVER_REPO_SERVER_CLIENT_CERT_PATH", "/srv.crt"),
        ];
        let c = resolve(Component::ApplicationController, Flags::default(), &env).unwrap();
        assert_eq!(c.address, "ctrl:1");
        assert_eq!(c.server_ca, [PathBuf::from("/ca.crt")]);
        assert_eq!(c.client_cert.unwrap().0, PathBuf::from(DEFAULT_CLIENT_CERT));
        let s = resolve(Component::Server, Flags::default(), &env).unwrap();
        assert_eq!(
            s.address, DEFAULT_ADDRESS,
            "controller env must not leak into argocd-server"
        );
        assert!(!s.strict());
        assert_eq!(s.client_cert.unwrap().0, PathBuf::from("/srv.crt"));
        let n = resolve(
            Component::NotificationsController,
            Flags::default(),
            &[(
                "ARGOCD_NOTIFICATION_CONTROLLER_REPO_SERVER_CLIENT_CERT_PATH",
                "/n.crt",
            )],
        )
        .unwrap();
        assert_eq!(n.client_cert.unwrap().0, PathBuf::from("/n.crt"));
    }

    #[test]
    fn empty_env_means_default_and_flags_win() {
        let env = [
            ("ARGOCD_SERVER_REPO_SERVER_CLIENT_CERT_PATH", ""),
            ("ARGOCD_SERVER_REPO_SERVER", "env:1"),
        ];
        let flags = Flags {
            repo_server: Some("flag:2".into()),
            ..Flags::default()
        };
        let s = resolve(Component::Server, flags, &env).unwrap();
        assert_eq!(s.address, "flag:2");
        assert_eq!(s.client_cert.unwrap().0, PathBuf::from(DEFAULT_CLIENT_CERT));
    }

    #[test]
    fn cert_and_key_both_or_neither() {
        let only_cert = Flags {
            repo_server_client_cert_key_path: Some(String::new()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(Component::Server, only_cert, &[]),
            Err(SettingsError::KeyRequired)
        );
        let only_key = Flags {
            repo_server_client_cert_path: Some(String::new()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(Component::Server, only_key, &[]),
            Err(SettingsError::CertRequired)
        );
        let neither = Flags {
            repo_server_client_cert_path: Some(String::new()),
            repo_server_client_cert_key_path: Some(String::new()),
            ..Flags::default()
        };
        assert_eq!(
            resolve(Component::Server, neither, &[])
                .unwrap()
                .client_cert,
            None
        );
    }

    #[test]
    fn strict_is_ca_path_or_legacy_flag() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().to_str().unwrap();
        // Legacy flag with nothing mounted: a clear error rather than an empty trust pool.
        let legacy = Flags {
            repo_server_strict_tls: Some(true),
            ..Flags::default()
        };
        let err = resolve(
            Component::Server,
            legacy.clone(),
            &[("ARGOCD_APP_CONF_PATH", conf)],
        )
        .unwrap_err();
        assert!(err.to_string().contains("server/tls/tls.crt"), "{err}");
        std::fs::create_dir_all(dir.path().join("controller/tls")).unwrap();
        std::fs::write(dir.path().join("controller/tls/ca.crt"), "x").unwrap();
        let c = resolve(
            Component::ApplicationController,
            legacy,
            &[("ARGOCD_APP_CONF_PATH", conf)],
        )
        .unwrap();
        assert_eq!(c.server_ca, [dir.path().join("controller/tls/ca.crt")]);
        // Env form of the legacy flag, OR'ed with a CA path: the CA path wins as the pool.
        let env = [
            ("ARGOCD_SERVER_REPO_SERVER_STRICT_TLS", "true"),
            ("ARGOCD_SERVER_REPO_SERVER_CA_CERT_PATH", "/ca.crt"),
        ];
        let s = resolve(Component::Server, Flags::default(), &env).unwrap();
        assert_eq!(s.server_ca, [PathBuf::from("/ca.crt")]);
    }

    #[test]
    fn plaintext_overrides_everything() {
        let env = [
            ("ARGOCD_SERVER_REPO_SERVER_PLAINTEXT", "true"),
            ("ARGOCD_SERVER_REPO_SERVER_CA_CERT_PATH", "/ca.crt"),
        ];
        let s = resolve(Component::Server, Flags::default(), &env).unwrap();
        assert!(s.plaintext && !s.strict() && s.client_cert.is_none());
    }
}
