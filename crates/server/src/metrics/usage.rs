//! Chargeback: what renders cost, by client identity and by repository, with a bounded number
//! of series whoever calls.
//!
//! The RPC layer names the caller ([`Caller`]) around its engine call; the engine meters each
//! render ([`Usage::metered`]) and the render's cost is charged to that caller and to the
//! render's repository (normalized, without credentials). A render shared by single flight is
//! charged to the caller that led it; the callers that waited for it are charged nothing.
//!
//! Memory is bounded: each dimension keeps at most [`KEPT`] keys, and a new key evicts the one
//! with the least CPU time, whose totals move to `other`. At scrape time the [`TOP`] keys by
//! CPU time get series of their own and everything else is summed as `other`, so a caller
//! minting identities or repository URLs grows neither memory nor series. Every series stays
//! monotonic and every increment is shown in exactly one series: what `other` has shown of a key
//! stays there when the key enters the top (its series shows the rest), and a key that leaves
//! the top ends its series, `other` taking only what the series never showed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use repo_render::{Meter, Spent};

use crate::conn::Peer;

/// Keys with series of their own, per dimension.
const TOP: usize = 20;
/// Keys remembered per dimension.
const KEPT: usize = 1000;
/// Longer keys are charged to `other`: no label value is larger than this.
const MAX_KEY: usize = 512;
/// The label value of everything outside the top.
const OTHER: &str = "other";

tokio::task_local! {
    static CALLER: Arc<str>;
}

/// The identity a request's renders are charged to: the name of its client certificate, as
/// `argocd_repo_server_requests_total` labels it; `""` without one.
pub(crate) struct Caller(Arc<str>);

impl Caller {
    pub(crate) fn of<T>(req: &tonic::Request<T>) -> Self {
        let peer = req.extensions().get::<Arc<Peer>>();
        let name = peer
            .and_then(|p| p.identity.as_ref())
            .map_or("", |id| id.name());
        Self(name.into())
    }

    /// Runs `work` (an engine call) with its renders charged to this caller.
    pub(crate) fn run<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        CALLER.scope(self.0, work)
    }
}

/// Render costs by identity and by repository, exported by a collector.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    identities: Mutex<Ledger>,
    repos: Mutex<Ledger>,
}

impl Usage {
    pub(crate) fn register(registry: &mut Registry) -> Arc<Self> {
        let usage = Arc::new(Self::default());
        registry.register_collector(Box::new(Export(usage.clone())));
        usage
    }

    /// Runs the render `work` of repository `url`, charging what it spends to the caller
    /// (from [`Caller::run`], read when the render starts) and to the repository.
    pub(crate) fn metered<F: Future>(
        self: &Arc<Self>,
        url: &str,
        work: F,
    ) -> impl Future<Output = F::Output> {
        let repo = repo_source::normalize(&repo_source::display(url));
        let usage = self.clone();
        // Boxed here, so that the caller's future does not hold the render's.
        let work = Box::pin(work);
        async move {
            let identity = CALLER.try_with(Arc::clone).unwrap_or_else(|_| "".into());
            let meter = Meter::new(move |spent| usage.charge(&identity, &repo, spent));
            repo_render::metered(meter, work).await
        }
    }

    fn charge(&self, identity: &str, repo: &str, spent: Spent) {
        let spent = Totals::from(spent);
        self.identities.lock().charge(identity, spent);
        self.repos.lock().charge(repo, spent);
    }
}

/// Renders and their cost in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    renders: u64,
    wall: u64,
    server: u64,
    tools: u64,
}

impl From<Spent> for Totals {
    fn from(s: Spent) -> Self {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self {
            renders: 1,
            wall: nanos(s.wall),
            server: nanos(s.server_cpu),
            tools: nanos(s.tools_cpu),
        }
    }
}

impl Totals {
    fn cpu(&self) -> u64 {
        self.server.saturating_add(self.tools)
    }

    fn zip(self, o: Self, f: fn(u64, u64) -> u64) -> Self {
        Self {
            renders: f(self.renders, o.renders),
            wall: f(self.wall, o.wall),
            server: f(self.server, o.server),
            tools: f(self.tools, o.tools),
        }
    }

    fn plus(self, o: Self) -> Self {
        self.zip(o, u64::saturating_add)
    }

    fn minus(self, o: Self) -> Self {
        self.zip(o, u64::saturating_sub)
    }
}

/// One key's totals, split by where they were shown: `other` (for good), episodes of its own
/// series that ended, and its current series.
#[derive(Debug, Default)]
struct Entry {
    total: Totals,
    /// What `other` has shown of this key: it never gives it back.
    other: Totals,
    /// What this key's series showed in earlier times in the top.
    ended: Totals,
    /// While in the top: what its series showed at the last scrape.
    shown: Option<Totals>,
}

/// The keys of one dimension, bounded.
#[derive(Debug, Default)]
struct Ledger {
    entries: HashMap<String, Entry>,
    /// What `other` shows of keys no longer kept.
    evicted: Totals,
}

impl Ledger {
    fn charge(&mut self, key: &str, spent: Totals) {
        if key.len() > MAX_KEY || key == OTHER {
            self.evicted = self.evicted.plus(spent);
            return;
        }
        if let Some(entry) = self.entries.get_mut(key) {
            entry.total = entry.total.plus(spent);
            return;
        }
        if self.entries.len() >= KEPT {
            self.evict();
        }
        let entry = Entry {
            total: spent,
            ..Entry::default()
        };
        self.entries.insert(key.to_string(), entry);
    }

    /// Forgets the key outside the top with the least CPU time, its totals going to `other`.
    fn evict(&mut self) {
        let least = (self.entries.iter())
            .filter(|(_, e)| e.shown.is_none())
            .min_by_key(|(_, e)| e.total.cpu())
            .map(|(k, _)| k.clone());
        if let Some(entry) = least.and_then(|k| self.entries.remove(&k)) {
            self.evicted = self.evicted.plus(entry.total.minus(entry.ended));
        }
    }

    /// Picks the top keys by CPU time: the series to show, by key, then `other`. A key in the
    /// top shows what `other` has not shown of it yet; a key that leaves the top ends its series
    /// at what it last showed, and `other` takes what was spent since.
    fn scrape(&mut self) -> Vec<(String, Totals)> {
        let mut ranked: Vec<(&String, u64)> = self
            .entries
            .iter()
            .map(|(k, e)| (k, e.total.cpu()))
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let top: std::collections::HashSet<String> =
            ranked.iter().take(TOP).map(|(k, _)| (*k).clone()).collect();
        let mut out = Vec::with_capacity(TOP + 1);
        let mut other = self.evicted;
        for (key, entry) in &mut self.entries {
            if top.contains(key) {
                let series = entry.total.minus(entry.other).minus(entry.ended);
                entry.shown = Some(series);
                out.push((key.clone(), series));
            } else {
                if let Some(last) = entry.shown.take() {
                    entry.ended = entry.ended.plus(last);
                }
                entry.other = entry.total.minus(entry.ended);
            }
            other = other.plus(entry.other);
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.push((OTHER.to_string(), other));
        out
    }
}

/// The collector: both ledgers, scraped.
#[derive(Debug)]
struct Export(Arc<Usage>);

impl Collector for Export {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let identities = self.0.identities.lock().scrape();
        let repos = self.0.repos.lock().scrape();
        for (label, rows, prefix, what) in [
            ("identity", &identities, "", "client identity"),
            ("repo", &repos, "repo_", "repository"),
        ] {
            family(
                &mut encoder,
                &format!("argocd_repo_server_{prefix}renders"),
                &format!(
                    "Renders run, by {what} (the {TOP} with the most CPU time, the rest as other)."
                ),
                rows.iter()
                    .map(|(k, t)| ([(label, k.as_str())], t.renders as f64)),
            )?;
            family(
                &mut encoder,
                &format!("argocd_repo_server_{prefix}render_seconds"),
                &format!(
                    "Wall time of renders, by {what} (the {TOP} with the most CPU time, the rest as other)."
                ),
                rows.iter()
                    .map(|(k, t)| ([(label, k.as_str())], seconds(t.wall))),
            )?;
            let parts = rows.iter().flat_map(|(k, t)| {
                [("server", t.server), ("tools", t.tools)]
                    .map(|(part, n)| ([(label, k.as_str()), ("part", part)], seconds(n)))
            });
            family(
                &mut encoder,
                &format!("argocd_repo_server_{prefix}render_cpu_seconds"),
                &format!("CPU time of renders, by {what} and part: server (the repo-server's threads) or tools (helm, kustomize, jsonnet and their children) (the {TOP} with the most CPU time, the rest as other)."),
                parts,
            )?;
        }
        Ok(())
    }
}

fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// One counter family of `series` (labels, value).
fn family<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(cpu_ms: u64) -> Spent {
        Spent {
            wall: Duration::from_millis(cpu_ms * 2),
            server_cpu: Duration::from_millis(cpu_ms / 2),
            tools_cpu: Duration::from_millis(cpu_ms - cpu_ms / 2),
        }
    }

    fn exposition(usage: &Arc<Usage>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Export(usage.clone())));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    /// The series of `metric` (with `_total`) as (labels, value).
    fn series(text: &str, metric: &str) -> Vec<(String, f64)> {
        text.lines()
            .filter_map(|l| l.strip_prefix(metric)?.strip_prefix('{'))
            .map(|rest| {
                let (labels, value) = rest.rsplit_once("} ").unwrap();
                (labels.to_string(), value.parse().unwrap())
            })
            .collect()
    }

    fn sum(rows: &[(String, f64)]) -> f64 {
        rows.iter().map(|(_, v)| v).sum()
    }

    #[test]
    fn five_hundred_identities_give_at_most_top_plus_other_series() {
        let usage = Arc::new(Usage::default());
        for i in 0..500u64 {
            usage.charge(
                &format!("spiffe://mint/{i}"),
                "https://git.example/r",
                spent(i + 1),
            );
        }
        let text = exposition(&usage);
        let cpu = series(&text, "argocd_repo_server_render_cpu_seconds_total");
        let renders = series(&text, "argocd_repo_server_renders_total");
        assert_eq!(renders.len(), TOP + 1, "{text}");
        assert_eq!(cpu.len(), 2 * (TOP + 1));
        // The top is the biggest spenders; nothing is lost in `other`.
        assert!(text.contains("identity=\"spiffe://mint/499\""));
        assert!(!text.contains("identity=\"spiffe://mint/0\""));
        assert_eq!(sum(&renders), 500.0);
        let all_ms: u64 = (1..=500).sum();
        assert!(
            (sum(&cpu) - all_ms as f64 / 1e3).abs() < 1e-6,
            "{}",
            sum(&cpu)
        );
    }

    #[test]
    fn minted_keys_evict_the_least_into_other_and_memory_stays_bounded() {
        let usage = Arc::new(Usage::default());
        usage.charge(
            "argocd-application-controller",
            "https://git.example/big",
            spent(10_000),
        );
        for i in 0..5 * KEPT {
            usage.charge(
                "attacker",
                &format!("https://git.example/minted/{i}"),
                spent(1),
            );
        }
        let repos = usage.repos.lock();
        assert!(repos.entries.len() <= KEPT);
        assert!(repos.entries.contains_key("https://git.example/big"));
        drop(repos);
        let text = exposition(&usage);
        let renders = series(&text, "argocd_repo_server_repo_renders_total");
        assert!(renders.len() <= TOP + 1);
        assert_eq!(sum(&renders), (5 * KEPT + 1) as f64);
    }

    /// Scraped as Prometheus does, every increment is counted once, whichever series shows
    /// it, while keys enter and leave the top; `other` never goes down.
    #[test]
    fn every_increment_is_shown_once_as_keys_enter_and_leave_the_top() {
        const CPU: &str = "argocd_repo_server_render_cpu_seconds_total";
        let usage = Arc::new(Usage::default());
        let mut last: HashMap<String, f64> = HashMap::new();
        let (mut increase, mut charged) = (0.0, 0u64);
        let mut entered = 0;
        for round in 0..6u64 {
            // Two groups of TOP identities take turns at spending most: the whole top changes
            // every round, and keys come back to it.
            let (lead, lag) = if round % 2 == 0 {
                ("a", "b")
            } else {
                ("b", "a")
            };
            for i in 0..TOP as u64 {
                let cost = (round + 1) * 1000 + i;
                usage.charge(&format!("{lead}-{i}"), "r", spent(cost));
                usage.charge(&format!("{lag}-{i}"), "r", spent(1));
                charged += cost + 1;
            }
            let rows = series(&exposition(&usage), CPU);
            let lead_label = format!("identity=\"{lead}-0\"");
            entered += usize::from(rows.iter().any(|(l, _)| l.contains(&lead_label)));
            let mut now = HashMap::new();
            for (labels, value) in rows {
                let before = last.get(&labels).copied();
                if labels.contains("identity=\"other\"") {
                    assert!(value >= before.unwrap_or(0.0) - 1e-9, "other went down");
                }
                // A counter below its last value was reset: it counts from zero.
                increase += match before {
                    Some(b) if value >= b => value - b,
                    _ => value,
                };
                now.insert(labels, value);
            }
            last = now;
        }
        assert_eq!(entered, 6, "the leading group was not in the top");
        let charged = charged as f64 / 1e3;
        assert!(
            (increase - charged).abs() < 1e-6,
            "{increase} shown, {charged} charged"
        );
    }

    /// The caller named by the RPC layer and the repository without its credentials are
    /// charged; work outside a caller's scope is charged to `""`.
    #[tokio::test]
    async fn a_render_is_charged_to_its_caller_and_its_repository_without_credentials() {
        let usage = Arc::new(Usage::default());
        let url = "https://user:s3cret@Git.Example/org/app.git/";
        let busy = || async {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_millis(5) {}
        };
        let caller = Caller("team-a".into());
        caller.run(usage.metered(url, busy())).await;
        usage.metered(url, busy()).await;
        let text = exposition(&usage);
        assert!(!text.contains("s3cret") && !text.contains("user"), "{text}");
        let renders = series(&text, "argocd_repo_server_renders_total");
        assert!(
            renders.contains(&("identity=\"team-a\"".to_string(), 1.0)),
            "{text}"
        );
        assert!(
            renders.contains(&("identity=\"\"".to_string(), 1.0)),
            "{text}"
        );
        let repos = series(&text, "argocd_repo_server_repo_renders_total");
        let repo = ("repo=\"https://git.example/org/app\"".to_string(), 2.0);
        assert!(repos.contains(&repo), "{text}");
        let cpu = series(&text, "argocd_repo_server_render_cpu_seconds_total");
        let server = cpu
            .iter()
            .find(|(l, _)| l == "identity=\"team-a\",part=\"server\"");
        assert!(server.is_some_and(|(_, v)| *v > 0.0), "{text}");
    }

    #[test]
    fn a_key_named_other_or_too_long_is_charged_to_other() {
        let usage = Arc::new(Usage::default());
        usage.charge("other", &"x".repeat(MAX_KEY + 1), spent(10));
        let text = exposition(&usage);
        let renders = series(&text, "argocd_repo_server_renders_total");
        assert_eq!(renders, vec![("identity=\"other\"".to_string(), 1.0)]);
        let repos = series(&text, "argocd_repo_server_repo_renders_total");
        assert_eq!(repos, vec![("repo=\"other\"".to_string(), 1.0)]);
    }
}
