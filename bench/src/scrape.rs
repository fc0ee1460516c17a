//! Reading this project's Prometheus endpoint: counters the server keeps exactly (renders run,
//! Redis commands sent), where timing or logs would only estimate them.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Renders run, summed over every client identity.
pub(crate) const RENDERS: &str = "argocd_repo_server_renders_total";
/// Commands sent to Redis, summed over every command and outcome.
pub(crate) const REDIS_REQUESTS: &str = "argocd_redis_request_total";

/// The sum of every series of `metric` at `addr` (`/metrics`, plain HTTP/1.1).
pub(crate) async fn total(addr: SocketAddr, metric: &str) -> anyhow::Result<f64> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    tcp.read_to_string(&mut text)
        .await
        .with_context(|| format!("reading {addr}/metrics"))?;
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP body")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{addr}/metrics: {head}");
    Ok(sum(body, metric))
}

/// Sums the samples of `metric` (any labels) in an exposition; 0 when it has none yet.
fn sum(exposition: &str, metric: &str) -> f64 {
    exposition
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(metric)?;
            let value = match rest.as_bytes().first()? {
                b' ' => rest,
                b'{' => &rest[rest.rfind('}')? + 1..],
                _ => return None,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

/// [`total`] over several servers.
pub(crate) async fn total_of(
    addrs: impl IntoIterator<Item = SocketAddr>,
    metric: &str,
) -> anyhow::Result<f64> {
    let mut out = 0.0;
    for addr in addrs {
        out += total(addr, metric).await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_series_of_exactly_that_metric() {
        let text = "# TYPE argocd_repo_server_renders_total counter\n\
            argocd_repo_server_renders_total{identity=\"a\"} 3\n\
            argocd_repo_server_renders_total{identity=\"b,}\"} 4\n\
            argocd_repo_server_renders_total_created 99\n\
            argocd_repo_server_render_seconds_total{identity=\"a\"} 7\n\
            argocd_redis_request_total 2\n";
        assert_eq!(sum(text, RENDERS), 7.0);
        assert_eq!(sum(text, REDIS_REQUESTS), 2.0);
        assert_eq!(sum(text, "absent_total"), 0.0);
    }
}
