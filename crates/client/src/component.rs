//! The Argo CD components that call the repo-server, and where each reads its settings.

use std::fmt;

/// A calling component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Component {
    /// argocd-server (env prefix `ARGOCD_SERVER_`).
    Server,
    /// argocd-application-controller (`ARGOCD_APPLICATION_CONTROLLER_`).
    ApplicationController,
    /// argocd-applicationset-controller (`ARGOCD_APPLICATIONSET_CONTROLLER_`).
    ApplicationsetController,
    /// argocd-notifications-controller (`ARGOCD_NOTIFICATION_CONTROLLER_`, singular upstream).
    NotificationsController,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Server,
        Component::ApplicationController,
        Component::ApplicationsetController,
        Component::NotificationsController,
    ];

    /// The `PREFIX` of `ARGOCD_<PREFIX>_REPO_SERVER_…`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Component::Server => "SERVER",
            Component::ApplicationController => "APPLICATION_CONTROLLER",
            Component::ApplicationsetController => "APPLICATIONSET_CONTROLLER",
            Component::NotificationsController => "NOTIFICATION_CONTROLLER",
        }
    }

    /// `ARGOCD_<PREFIX>_<suffix>`.
    pub fn env(self, suffix: &str) -> String {
        format!("ARGOCD_{}_{suffix}", self.env_prefix())
    }

    /// Env var of the repo-server address; the notifications controller has none upstream.
    pub fn address_env(self) -> Option<String> {
        (self != Component::NotificationsController).then(|| self.env("REPO_SERVER"))
    }

    /// Env var of the legacy strict flag; the notifications controller has none upstream.
    pub fn strict_env(self) -> Option<String> {
        (self != Component::NotificationsController).then(|| self.env("REPO_SERVER_STRICT_TLS"))
    }

    /// Env var of the RPC timeout; the notifications controller uses a fixed 5 s.
    pub fn timeout_env(self) -> Option<String> {
        (self != Component::NotificationsController)
            .then(|| self.env("REPO_SERVER_TIMEOUT_SECONDS"))
    }

    /// Where the legacy strict mode looks for `tls.crt`/`ca.crt` of `argocd-repo-server-tls`,
    /// relative to `ARGOCD_APP_CONF_PATH`.
    pub fn legacy_tls_dir(self) -> &'static str {
        match self {
            Component::Server => "server/tls",
            Component::ApplicationController => "controller/tls",
            Component::ApplicationsetController | Component::NotificationsController => {
                "reposerver/tls"
            }
        }
    }

    /// The Kubernetes workload name.
    pub fn name(self) -> &'static str {
        match self {
            Component::Server => "argocd-server",
            Component::ApplicationController => "argocd-application-controller",
            Component::ApplicationsetController => "argocd-applicationset-controller",
            Component::NotificationsController => "argocd-notifications-controller",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
