//! Closed-loop load: `concurrency` workers repeat one operation for a time window while the
//! servers' CPU time is read before and after.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::proc::tree_cpu_s;

/// What one window measured.
#[derive(Debug, Default)]
pub(crate) struct Sample {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    latencies_ms: Vec<f64>,
    pub elapsed_s: f64,
    pub server_cpu_s: f64,
}

impl Sample {
    pub(crate) fn per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed_s
    }

    /// Server CPU microseconds per successful operation.
    pub(crate) fn cpu_us_per_op(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.ok.max(1) as f64
    }

    /// The `q` quantile (0..=1) of latencies, in ms.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.latencies_ms, q)
    }

    /// Adds another window of the same operation.
    pub(crate) fn merge(&mut self, other: Sample) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_ms.extend(other.latencies_ms);
        self.elapsed_s += other.elapsed_s;
        self.server_cpu_s += other.server_cpu_s;
    }

    /// Fails when the window had errors: a figure over failed calls would mislead.
    pub(crate) fn check(&self, what: &str) -> anyhow::Result<()> {
        match &self.first_error {
            Some(e) if self.errors > 0 => {
                anyhow::bail!(
                    "{what}: {} of {} calls failed: {e}",
                    self.errors,
                    self.errors + self.ok
                )
            }
            _ if self.ok == 0 => anyhow::bail!("{what}: no call completed"),
            _ => Ok(()),
        }
    }
}

/// Nearest-rank quantile of unsorted values.
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `step(worker)` in `concurrency` loops for `window`, measuring the process trees `pids`.
pub(crate) async fn drive<S, F>(
    concurrency: usize,
    window: Duration,
    pids: &[u32],
    step: S,
) -> Sample
where
    S: Fn(usize) -> F + Send + Sync + 'static,
    F: Future<Output = anyhow::Result<()>> + Send,
{
    let step = Arc::new(step);
    let cpu_before: f64 = pids.iter().map(|p| tree_cpu_s(*p)).sum();
    let start = Instant::now();
    let deadline = start + window;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut sample = Sample::default();
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    match step(worker).await {
                        Ok(()) => {
                            sample.ok += 1;
                            sample.latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                        }
                        Err(e) => {
                            sample.errors += 1;
                            sample.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                sample
            })
        })
        .collect();
    let mut total = Sample::default();
    for worker in workers {
        // Workers run side by side: their counts add up, their times do not.
        total.merge(worker.await.expect("load worker panicked"));
    }
    total.elapsed_s = start.elapsed().as_secs_f64();
    total.server_cpu_s = pids.iter().map(|p| tree_cpu_s(*p)).sum::<f64>() - cpu_before;
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.5), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[tokio::test]
    async fn counts_successes_and_keeps_the_first_error() {
        let sample = drive(2, Duration::from_millis(50), &[], |worker| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if worker == 1 {
                anyhow::bail!("worker one fails")
            }
            Ok(())
        })
        .await;
        assert!(sample.ok > 0 && sample.errors > 0);
        assert!(sample
            .check("test")
            .unwrap_err()
            .to_string()
            .contains("worker one fails"));
    }
}
