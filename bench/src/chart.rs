//! One PNG per benchmark: a panel per metric, a bar per system.

use std::path::Path;

use plotters::prelude::*;

use crate::record::{format_value, Record, Results};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const PANEL_W: u32 = 420;
const PANEL_H: u32 = 260;
const COLUMNS: usize = 3;

/// Registers the chart font; without it charts are skipped (the table and JSON still hold
/// every figure).
pub(crate) fn font() -> anyhow::Result<()> {
    let bytes = std::fs::read(FONT)
        .map_err(|e| anyhow::anyhow!("{FONT}: {e}; install fonts-dejavu-core"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{FONT}: not a usable font"))?;
    Ok(())
}

pub(crate) fn draw_all(results: &Results, dir: &Path) -> anyhow::Result<()> {
    for benchmark in results.benchmarks() {
        let records: Vec<&Record> = results.of(benchmark).collect();
        draw(benchmark, &records, &dir.join(format!("{benchmark}.png")))?;
    }
    Ok(())
}

fn draw(benchmark: &str, records: &[&Record], path: &Path) -> anyhow::Result<()> {
    let mut metrics: Vec<&str> = Vec::new();
    for r in records {
        if !metrics.contains(&r.metric.as_str()) {
            metrics.push(&r.metric);
        }
    }
    let rows = metrics.len().div_ceil(COLUMNS);
    let columns = metrics.len().min(COLUMNS);
    let size = (PANEL_W * columns as u32, PANEL_H * rows as u32 + 40);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(benchmark, ("sans-serif", 24))?;
    let panels = root.split_evenly((rows, columns));
    for (metric, panel) in metrics.iter().zip(panels.iter()) {
        let bars: Vec<&Record> = records
            .iter()
            .copied()
            .filter(|r| r.metric == *metric)
            .collect();
        let top = bars
            .iter()
            .map(|r| r.value)
            .fold(0.0_f64, f64::max)
            .max(1e-9)
            * 1.2;
        let unit = &bars[0].unit;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{metric} ({unit})"), ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(48)
            .build_cartesian_2d((0..bars.len()).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => {
                    bars.get(*i).map(|r| r.system.clone()).unwrap_or_default()
                }
                _ => String::new(),
            })
            .x_label_style(("sans-serif", 10))
            .y_label_style(("sans-serif", 10))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, r)| {
            let color = Palette99::pick(system_color(&r.system)).filled();
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), r.value),
                ],
                color,
            );
            bar.set_margin(0, 0, 6, 6);
            bar
        }))?;
        chart.draw_series(bars.iter().enumerate().map(|(i, r)| {
            Text::new(
                format_value(r.value),
                (SegmentValue::CenterOf(i), r.value + top * 0.02),
                ("sans-serif", 11),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}

/// The same colour for a system in every chart.
fn system_color(system: &str) -> usize {
    match system {
        "repo-server-rs" => 2,
        "go-grpc" => 0,
        "grpcio" => 4,
        "sidecar-nghttpx" => 6,
        "floor" => 12,
        _ => 20,
    }
}
