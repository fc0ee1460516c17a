//! The TLS side of the server: builds the acceptor from the mounted files at start, logging
//! what upstream logs, then keeps it current while the files change (Secret rotation) without
//! a restart. A new set is validated as a whole before any connection sees it; a broken set
//! leaves the previous one serving.

use std::sync::Arc;
use std::time::Duration;

use repo_tls::acceptor::{Acceptor, Configs};
use repo_tls::{Bundle, Changes, Contents, Crls, Files, HealthIdentity, Policy, ServingCert};

use crate::config::Tls;
use crate::metrics::Metrics;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the files are re-read even without a change event.
const POLL: Duration = Duration::from_secs(1);

/// What is serving now.
struct Current {
    digest: [u8; 32],
    serving: ServingCert,
    bundle: Option<Bundle>,
}

/// The TLS side of the server.
pub struct Transport {
    pub acceptor: Arc<Acceptor>,
    /// The health probe's identity; the server accepts it only while mTLS is on.
    pub health: HealthIdentity,
    files: Files,
    policy: Policy,
    required: bool,
    current: Current,
}

fn serving_at_start(files: &Files, contents: &Contents) -> Result<ServingCert, crate::Error> {
    if contents.serving_half() {
        tracing::warn!(
            "only one of {} and {} exists; both are needed to use a mounted certificate",
            files.cert.display(),
            files.key.display()
        );
    }
    match contents.serving(files)? {
        Some(serving) => {
            tracing::info!(
                "Loading TLS configuration from cert={} and key={}",
                files.cert.display(),
                files.key.display()
            );
            Ok(serving)
        }
        None => {
            tracing::info!("Generating self-signed TLS certificate for this session");
            Ok(ServingCert::self_signed()?)
        }
    }
}

fn bundle_at_start(files: &Files, contents: &Contents) -> Result<Option<Bundle>, crate::Error> {
    let Some(path) = &files.client_ca else {
        tracing::info!("No client CA path configured; mTLS is disabled, serving TLS only");
        return Ok(None);
    };
    match contents.bundle(files)? {
        None => {
            tracing::info!(
                "Client CA file {} not found; mTLS is disabled, serving TLS only",
                path.display()
            );
            Ok(None)
        }
        Some(bundle) => {
            tracing::info!(
                "Loading CA information from {} and appending it to cert pool",
                path.display()
            );
            tracing::info!(
                "mTLS enabled for repo-server: requiring client certificates from CA={} ({} CA certificate(s))",
                path.display(),
                bundle.len()
            );
            Ok(Some(bundle))
        }
    }
}

impl Transport {
    pub fn start(tls: &Tls, metrics: &Metrics) -> Result<Self, crate::Error> {
        let policy = tls.policy.clone();
        let files = Files {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            client_ca: tls.client_ca.clone(),
            client_crl: tls.client_crl.clone(),
        };
        // Upstream's wording for an unreadable client CA, which operators grep for.
        let contents = files.read().map_err(|e| match e {
            repo_tls::Error::Read { path, source } if files.client_ca.as_ref() == Some(&path) => {
                crate::Error::StatCa { path, source }
            }
            other => other.into(),
        })?;
        let serving = serving_at_start(&files, &contents)?;
        let bundle = bundle_at_start(&files, &contents)?;
        let crls = crls(&files, &contents, bundle.as_ref())?;
        let health = HealthIdentity::generate()?;
        if bundle.is_some() {
            log_health(&health);
        }
        if bundle.is_some() && !tls.client_auth_required {
            tracing::warn!("Client auth mode is permissive: clients without a certificate are served and counted in argocd_repo_server_unauthenticated_requests_total; switch to require once it stays at zero");
        }
        let configs = Configs::with_mode(
            &serving,
            bundle.as_ref(),
            &crls,
            Some(&health),
            &policy,
            tls.client_auth_required,
        )?;
        report(metrics, &serving, bundle.as_ref());
        Ok(Self {
            acceptor: Arc::new(Acceptor::new(configs, HANDSHAKE_TIMEOUT)),
            health,
            files,
            policy,
            required: tls.client_auth_required,
            current: Current {
                digest: contents.digest(),
                serving,
                bundle,
            },
        })
    }

    /// Follows the files until the returned task is aborted.
    pub fn follow(mut self, metrics: Arc<Metrics>) -> tokio::task::JoinHandle<()> {
        let mut changes = Changes::new(&self.files.dirs(), POLL);
        tokio::spawn(async move {
            while changes.next().await.is_some() {
                match self.reload() {
                    Ok(false) => {}
                    Ok(true) => {
                        metrics.reloaded(true);
                        report(
                            &metrics,
                            &self.current.serving,
                            self.current.bundle.as_ref(),
                        );
                    }
                    Err(err) => {
                        metrics.reloaded(false);
                        tracing::error!(error = %err, "TLS material update rejected, still serving the previous set: {err}");
                    }
                }
            }
        })
    }

    /// Re-reads the files; returns whether a new set went live.
    fn reload(&mut self) -> Result<bool, crate::Error> {
        let contents = self.files.read()?;
        if contents.digest() == self.current.digest {
            return Ok(false);
        }
        // A half-written pair is a rotation in progress or a mistake: keep serving.
        if contents.serving_half() {
            return Err(repo_tls::Error::Settings(format!(
                "only one of {} and {} exists",
                self.files.cert.display(),
                self.files.key.display()
            ))
            .into());
        }
        let serving = contents
            .serving(&self.files)?
            .unwrap_or_else(|| self.current.serving.clone());
        let bundle = match contents.bundle(&self.files)? {
            Some(bundle) => Some(bundle),
            // Fail closed: a vanished CA file never turns client authentication off.
            None if self.current.bundle.is_some() => {
                tracing::error!(
                    "client CA file {} disappeared; keeping the previous CA and requiring client certificates (restart to serve without mTLS)",
                    self.files.client_ca.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
                );
                self.current.bundle.clone()
            }
            None => None,
        };
        let crls = match &bundle {
            Some(bundle) => contents.crls(&self.files, bundle)?,
            None => Crls::default(),
        };
        // The mode chosen at start holds across reloads (permissive must not turn into require).
        let configs = Configs::with_mode(
            &serving,
            bundle.as_ref(),
            &crls,
            Some(&self.health),
            &self.policy,
            self.required,
        )?;
        self.acceptor.store(configs);
        if self.current.bundle.is_none() && bundle.is_some() {
            tracing::warn!(
                mode = if self.required {
                    "require"
                } else {
                    "permissive"
                },
                "Client CA file {} appeared: mTLS is now on for new connections",
                self.files
                    .client_ca
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            log_health(&self.health);
        }
        tracing::info!(
            previous = %self.current.serving.describe(),
            current = %serving.describe(),
            client_cas = bundle.as_ref().map_or(0, Bundle::len),
            revoked = crls.len(),
            "TLS material reloaded; new connections use it"
        );
        self.current = Current {
            digest: contents.digest(),
            serving,
            bundle,
        };
        Ok(true)
    }
}

fn crls(files: &Files, contents: &Contents, bundle: Option<&Bundle>) -> Result<Crls, crate::Error> {
    let (Some(bundle), Some(path)) = (bundle, &files.client_crl) else {
        return Ok(Crls::default());
    };
    if !contents.has_crl() {
        return Ok(Crls::default());
    }
    let crls = contents.crls(files, bundle)?;
    tracing::info!(
        "Loading client CRL from {} ({} revoked certificate(s)); revoked clients are refused",
        path.display(),
        crls.len()
    );
    Ok(crls)
}

/// Expiry metrics and low-lifetime warnings for what is serving now.
fn report(metrics: &Metrics, serving: &ServingCert, bundle: Option<&Bundle>) {
    let cas = bundle.map(Bundle::validity).unwrap_or_default();
    metrics.expiry.material(serving.validity(), &cas);
}

fn log_health(health: &HealthIdentity) {
    tracing::info!(
        "Generated ephemeral health-check client certificate (CN={})",
        health.common_name()
    );
}
