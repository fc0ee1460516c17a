//! The TLS side of the server: builds the acceptor from the mounted files at start, logging
//! what upstream logs, then keeps it current while the files change (Secret rotation) without
//! a restart. The material reloads in parts (see [`Part`]): the serving pair, the client CA and
//! the client CRL each validate and go live on their own, so a broken `tls.crt` never delays a
//! new client CA or a revocation; a broken part leaves its previous version serving.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use repo_tls::acceptor::{Acceptor, Configs};
use repo_tls::{Bundle, Changes, Contents, Crls, Files, HealthIdentity, Part, Policy, ServingCert};

use crate::config::Tls;
use crate::metrics::Metrics;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the files are re-read even without a change event.
const POLL: Duration = Duration::from_secs(1);

/// What is serving now, and the contents of each part last seen (applied or rejected), so a
/// change is judged once.
struct Current {
    seen: HashMap<Part, Seen>,
    serving: ServingCert,
    bundle: Option<Bundle>,
    crls: Crls,
}

/// A part as last seen: its contents, or why its files could not be read.
#[derive(PartialEq, Eq)]
enum Seen {
    Contents([u8; 32]),
    Unreadable(String),
}

/// What became of one part's change.
type Outcome = (Part, Result<(), crate::Error>);

/// The TLS side of the server.
pub(crate) struct Transport {
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
    match contents.serving()? {
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
    match contents.bundle()? {
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
    pub(crate) fn start(tls: &Tls, metrics: &Metrics) -> Result<Self, crate::Error> {
        let policy = tls.policy.clone();
        let files = Files {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            client_ca: tls.client_ca.clone(),
            client_crl: tls.client_crl.clone(),
        };
        // Upstream's wording for an unreadable client CA, which operators grep for.
        let read = |part| {
            files.read(part).map_err(|e| match e {
                repo_tls::Error::Read { path, source }
                    if files.client_ca.as_ref() == Some(&path) =>
                {
                    crate::Error::StatCa { path, source }
                }
                other => other.into(),
            })
        };
        let contents = [
            read(Part::Serving)?,
            read(Part::ClientCa)?,
            read(Part::ClientCrl)?,
        ];
        let serving = serving_at_start(&files, &contents[0])?;
        let bundle = bundle_at_start(&files, &contents[1])?;
        let crls = crls_at_start(&files, &contents[2], bundle.as_ref())?;
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
        let seen = Part::ALL
            .into_iter()
            .zip(contents.iter().map(|c| Seen::Contents(c.digest())))
            .collect();
        Ok(Self {
            acceptor: Arc::new(Acceptor::new(configs, HANDSHAKE_TIMEOUT)),
            health,
            files,
            policy,
            required: tls.client_auth_required,
            current: Current {
                seen,
                serving,
                bundle,
                crls,
            },
        })
    }

    /// Follows the files until the returned task is aborted.
    pub(crate) fn follow(self, metrics: Arc<Metrics>) -> tokio::task::JoinHandle<()> {
        let mut changes = Changes::new(&self.files.dirs(), POLL);
        tokio::spawn(async move {
            let mut transport = self;
            while changes.next().await.is_some() {
                // Reading and parsing files is blocking work.
                let Ok((back, outcomes)) = tokio::task::spawn_blocking(move || {
                    let outcomes = transport.reload();
                    (transport, outcomes)
                })
                .await
                else {
                    return;
                };
                transport = back;
                let mut applied = false;
                for (part, result) in outcomes {
                    metrics.reloaded(part.label(), result.is_ok());
                    match result {
                        Ok(()) => applied = true,
                        Err(err) => tracing::error!(
                            part = part.label(),
                            error = %err,
                            "TLS material update rejected, still serving the previous {}: {err}",
                            what(part)
                        ),
                    }
                }
                if applied {
                    report(
                        &metrics,
                        &transport.current.serving,
                        transport.current.bundle.as_ref(),
                    );
                }
            }
        })
    }

    /// Reads `part`; its contents if they changed since last seen. A file that cannot be read
    /// is an outcome of its own, reported once until the error changes.
    fn changed(&mut self, part: Part, outcomes: &mut Vec<Outcome>) -> Option<Contents> {
        let (seen, contents) = match self.files.read(part) {
            Ok(c) => (Seen::Contents(c.digest()), Ok(c)),
            Err(err) => (Seen::Unreadable(err.to_string()), Err(err)),
        };
        if self.current.seen.get(&part) == Some(&seen) {
            return None;
        }
        self.current.seen.insert(part, seen);
        match contents {
            Ok(c) => Some(c),
            Err(err) => {
                outcomes.push((part, Err(err.into())));
                None
            }
        }
    }

    /// Re-reads the files; publishes every part that changed and is valid, keeps the previous
    /// version of every part that changed and is not. Returns what became of each change.
    fn reload(&mut self) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let serving = self.changed(Part::Serving, &mut outcomes).and_then(|c| {
            let result = self.new_serving(&c);
            outcome(&mut outcomes, Part::Serving, result)
        });
        let bundle = self.changed(Part::ClientCa, &mut outcomes).and_then(|c| {
            let result = self.new_bundle(&c);
            outcome(&mut outcomes, Part::ClientCa, result)
        });
        let crls = self.new_crls(bundle.as_ref(), &mut outcomes);
        if serving.is_none() && bundle.is_none() && crls.is_none() {
            return outcomes;
        }
        let serving = serving.unwrap_or_else(|| self.current.serving.clone());
        let bundle = bundle.or_else(|| self.current.bundle.clone());
        let crls = crls.unwrap_or_else(|| self.current.crls.clone());
        // The mode chosen at start holds across reloads (permissive must not turn into require).
        let configs = match Configs::with_mode(
            &serving,
            bundle.as_ref(),
            &crls,
            Some(&self.health),
            &self.policy,
            self.required,
        ) {
            Ok(configs) => configs,
            Err(err) => {
                // Each part was valid alone; should they not combine, nothing changes.
                for (_, result) in outcomes.iter_mut().filter(|(_, r)| r.is_ok()) {
                    *result = Err(repo_tls::Error::Settings(err.to_string()).into());
                }
                return outcomes;
            }
        };
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
        let parts: Vec<&str> = outcomes
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(p, _)| p.label())
            .collect();
        tracing::info!(
            parts = %parts.join(","),
            previous = %self.current.serving.describe(),
            current = %serving.describe(),
            client_cas = bundle.as_ref().map_or(0, Bundle::len),
            revoked = crls.len(),
            intermediate_crls = crls.intermediate(),
            "TLS material reloaded; new connections use it"
        );
        self.current.serving = serving;
        self.current.bundle = bundle;
        self.current.crls = crls;
        outcomes
    }

    /// A changed serving pair; `None` when both files are gone (the current pair stays).
    fn new_serving(&self, contents: &Contents) -> Result<Option<ServingCert>, crate::Error> {
        // A half-written pair is a rotation in progress or a mistake: keep serving.
        if contents.serving_half() {
            return Err(repo_tls::Error::Settings(format!(
                "only one of {} and {} exists",
                self.files.cert.display(),
                self.files.key.display()
            ))
            .into());
        }
        Ok(contents.serving()?)
    }

    /// A changed client-CA bundle; `None` when the file is absent and mTLS was off.
    fn new_bundle(&self, contents: &Contents) -> Result<Option<Bundle>, crate::Error> {
        match contents.bundle()? {
            Some(bundle) => Ok(Some(bundle)),
            // Fail closed: a vanished CA file never turns client authentication off.
            None if self.current.bundle.is_some() => Err(repo_tls::Error::Settings(format!(
                "client CA file {} disappeared; keeping the previous CA and requiring client certificates (restart to serve without mTLS)",
                self.files.client_ca.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            ))
            .into()),
            None => Ok(None),
        }
    }

    /// The CRLs to publish, if they change: the CRL file when it changed, or when a new bundle
    /// goes live (the file is checked against the bundle that will use it). An absent file
    /// turns revocation checking off.
    fn new_crls(&mut self, bundle: Option<&Bundle>, outcomes: &mut Vec<Outcome>) -> Option<Crls> {
        let changed = self.changed(Part::ClientCrl, outcomes);
        let checked = bundle.or(self.current.bundle.as_ref())?;
        let contents = match (&changed, bundle) {
            (Some(c), _) => c.clone(),
            (None, Some(_)) => self.files.read(Part::ClientCrl).ok()?,
            (None, None) => return None,
        };
        match contents.crls(checked) {
            Ok(crls) => {
                if changed.is_some() {
                    outcomes.push((Part::ClientCrl, Ok(())));
                }
                Some(crls.unwrap_or_default())
            }
            Err(err) => {
                outcomes.push((Part::ClientCrl, Err(err.into())));
                None
            }
        }
    }
}

/// Records a part's outcome; what to publish for it, if anything.
fn outcome<T>(
    outcomes: &mut Vec<Outcome>,
    part: Part,
    result: Result<Option<T>, crate::Error>,
) -> Option<T> {
    match result {
        Ok(Some(value)) => {
            outcomes.push((part, Ok(())));
            Some(value)
        }
        Ok(None) => None,
        Err(err) => {
            outcomes.push((part, Err(err)));
            None
        }
    }
}

/// What a part is, for an operator.
fn what(part: Part) -> &'static str {
    match part {
        Part::Serving => "serving certificate and key",
        Part::ClientCa => "client CA bundle",
        Part::ClientCrl => "client CRLs",
    }
}

fn crls_at_start(
    files: &Files,
    contents: &Contents,
    bundle: Option<&Bundle>,
) -> Result<Crls, crate::Error> {
    let (Some(bundle), Some(path)) = (bundle, &files.client_crl) else {
        return Ok(Crls::default());
    };
    let Some(crls) = contents.crls(bundle)? else {
        return Ok(Crls::default());
    };
    tracing::info!(
        "Loading client CRL from {} ({} revoked certificate(s), {} CRL(s) of intermediates); revoked clients are refused",
        path.display(),
        crls.len(),
        crls.intermediate()
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
