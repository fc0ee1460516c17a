//! Certificate expiry as metrics and warnings: the serving certificate, each trusted CA, and
//! each client identity seen in the last day. A certificate with less than 30% of its lifetime
//! left is logged at warn (clients at most once a day each).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Clients not seen for this long drop out of the metrics.
const RECENT: Duration = Duration::from_secs(24 * 3600);
/// Share of the lifetime left below which a certificate is reported.
const LOW: f64 = 0.30;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CertLabels {
    pub cert: &'static str,
    pub subject: String,
}

#[derive(Debug, Default)]
struct Seen {
    last_seen: Option<Instant>,
    last_warned: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Expiry {
    gauges: Family<CertLabels, Gauge>,
    fixed: Mutex<Vec<CertLabels>>,
    clients: Mutex<HashMap<String, Seen>>,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The share of the validity period still ahead, if it is below [`LOW`].
pub(crate) fn low_lifetime(not_before: i64, not_after: i64, now: i64) -> Option<f64> {
    let total = (not_after - not_before).max(1) as f64;
    let left = ((not_after - now) as f64 / total).max(0.0);
    (left < LOW).then_some(left)
}

fn warn_if_low(kind: &str, subject: &str, not_before: i64, not_after: i64) -> bool {
    match low_lifetime(not_before, not_after, now_unix()) {
        Some(left) => {
            tracing::warn!(
                cert = kind,
                subject,
                not_after,
                "{kind} certificate {subject} has {:.0}% of its lifetime left; renew it",
                left * 100.0
            );
            true
        }
        None => false,
    }
}

impl Expiry {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let gauges = Family::<CertLabels, Gauge>::default();
        registry.register(
            "argocd_repo_server_tls_cert_expiration_timestamp_seconds",
            "notAfter of the serving certificate, each trusted client CA and each client identity seen in the last day, as Unix time",
            gauges.clone(),
        );
        Self {
            gauges,
            fixed: Mutex::new(Vec::new()),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the serving certificate's and the CAs' series.
    pub(crate) fn material(&self, server: (String, i64, i64), cas: &[(String, i64, i64)]) {
        let mut fixed = self.fixed.lock();
        for labels in fixed.drain(..) {
            self.gauges.remove(&labels);
        }
        let entries =
            std::iter::once(("server", &server)).chain(cas.iter().map(|ca| ("client_ca", ca)));
        for (cert, (subject, not_before, not_after)) in entries {
            let labels = CertLabels {
                cert,
                subject: subject.clone(),
            };
            self.gauges.get_or_create(&labels).set(*not_after);
            warn_if_low(cert, subject, *not_before, *not_after);
            fixed.push(labels);
        }
    }

    /// Creates an empty series so the metric shows in an exposition (reference generation).
    pub(crate) fn touch(&self) {
        let _ = self.gauges.get_or_create(&CertLabels {
            cert: "server",
            subject: String::new(),
        });
    }

    /// Records a client identity on connection; drops identities not seen for a day.
    pub(crate) fn client(&self, name: &str, not_before: i64, not_after: i64) {
        let now = Instant::now();
        let mut clients = self.clients.lock();
        clients.retain(|old, seen| {
            let fresh = seen
                .last_seen
                .is_some_and(|t| now.duration_since(t) < RECENT);
            if !fresh {
                self.gauges.remove(&CertLabels {
                    cert: "client",
                    subject: old.clone(),
                });
            }
            fresh || old == name
        });
        let seen = clients.entry(name.to_string()).or_default();
        seen.last_seen = Some(now);
        self.gauges
            .get_or_create(&CertLabels {
                cert: "client",
                subject: name.to_string(),
            })
            .set(not_after);
        let due = seen
            .last_warned
            .is_none_or(|t| now.duration_since(t) >= RECENT);
        if due && warn_if_low("client", name, not_before, not_after) {
            seen.last_warned = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_lifetime_threshold() {
        assert_eq!(low_lifetime(0, 100, 50), None);
        assert_eq!(low_lifetime(0, 100, 70), None);
        assert!(low_lifetime(0, 100, 71).is_some());
        assert_eq!(low_lifetime(0, 100, 200), Some(0.0));
    }

    #[test]
    fn series_follow_material_and_clients() {
        let mut registry = Registry::default();
        let expiry = Expiry::register(&mut registry);
        expiry.material(("CN=a".into(), 0, 10), &[("CN=ca".into(), 0, 20)]);
        expiry.material(("CN=b".into(), 0, 30), &[]);
        expiry.client("argocd-server", 0, 40);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"{cert="server",subject="CN=b"} 30"#),
            "{text}"
        );
        assert!(
            !text.contains("CN=a") && !text.contains("CN=ca"),
            "old series removed:\n{text}"
        );
        assert!(
            text.contains(r#"{cert="client",subject="argocd-server"} 40"#),
            "{text}"
        );
    }
}
