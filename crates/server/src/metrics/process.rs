//! The standard `process_*` metrics (Go's and Prometheus' process collector names), read from
//! `/proc/self` at each scrape. These are a handful of small reads from procfs, served by the
//! kernel from memory; they run on the scrape's thread, which is acceptable for a request
//! that comes every few seconds at most (as the Go collector upstream does).

use procfs::process::{LimitValue, Process};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

#[derive(Debug)]
pub(crate) struct ProcessCollector;

/// What one scrape reads; a figure that cannot be read is left out.
#[derive(Default)]
struct Figures {
    cpu_seconds: Option<f64>,
    resident: Option<i64>,
    virtual_bytes: Option<i64>,
    start_time: Option<f64>,
    open_fds: Option<i64>,
    max_fds: Option<i64>,
}

fn read() -> Figures {
    let Ok(me) = Process::myself() else {
        return Figures::default();
    };
    let ticks = procfs::ticks_per_second() as f64;
    let mut figures = Figures {
        open_fds: me.fd_count().ok().map(|n| n as i64),
        max_fds: me
            .limits()
            .ok()
            .and_then(|l| match l.max_open_files.soft_limit {
                LimitValue::Value(n) => i64::try_from(n).ok(),
                LimitValue::Unlimited => None,
            }),
        ..Figures::default()
    };
    if let Ok(stat) = me.stat() {
        figures.cpu_seconds = Some((stat.utime + stat.stime) as f64 / ticks);
        figures.virtual_bytes = i64::try_from(stat.vsize).ok();
        figures.resident = i64::try_from(stat.rss.saturating_mul(procfs::page_size())).ok();
        figures.start_time = procfs::boot_time_secs()
            .ok()
            .map(|boot| boot as f64 + stat.starttime as f64 / ticks);
    }
    figures
}

fn gauge<
    N: prometheus_client::encoding::EncodeGaugeValue + Copy + std::fmt::Debug + Send + Sync,
>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: Option<N>,
) -> std::fmt::Result {
    let Some(value) = value else {
        return Ok(());
    };
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let f = read();
        if let Some(seconds) = f.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                counter.metric_type(),
            )?)?;
        }
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            f.resident,
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            f.virtual_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            f.start_time,
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Number of open file descriptors.",
            f.open_fds,
        )?;
        gauge(
            &mut encoder,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            f.max_fds,
        )
    }
}
