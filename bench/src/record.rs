//! One measured figure, and the collection written to `latest.json` and printed as a table.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    pub benchmark: String,
    pub system: String,
    pub metric: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Default)]
pub(crate) struct Results {
    pub records: Vec<Record>,
}

impl Results {
    pub(crate) fn add(
        &mut self,
        benchmark: &str,
        system: &str,
        metric: &str,
        value: f64,
        unit: &str,
    ) {
        eprintln!("  {benchmark:<18} {system:<16} {metric:<40} {value:>12.3} {unit}");
        self.records.push(Record {
            benchmark: benchmark.into(),
            system: system.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
        });
    }

    /// The records of one benchmark, in insertion order.
    pub(crate) fn of<'a>(&'a self, benchmark: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records
            .iter()
            .filter(move |r| r.benchmark == benchmark)
    }

    pub(crate) fn benchmarks(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.records {
            if !names.contains(&r.benchmark.as_str()) {
                names.push(&r.benchmark);
            }
        }
        names
    }

    /// Writes the JSON list atomically (temporary file, then rename).
    pub(crate) fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.records)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// A Markdown table, one row per figure.
    pub(crate) fn table(&self) -> String {
        let mut out = String::from(
            "| benchmark | system | metric | value | unit |\n|---|---|---|---:|---|\n",
        );
        for r in &self.records {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.benchmark,
                r.system,
                r.metric,
                format_value(r.value),
                r.unit
            );
        }
        out
    }
}

/// Three significant figures, without exponent notation.
pub(crate) fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 || value == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_carry_every_field() {
        let mut results = Results::default();
        results.add(
            "handshake-p256",
            "go-grpc",
            "handshakes_per_s",
            1234.5,
            "1/s",
        );
        results.add("memory", "repo-server-rs", "rss_mb", 9.87654, "MB");
        let table = results.table();
        assert!(table.contains("| handshake-p256 | go-grpc | handshakes_per_s | 1234 | 1/s |"));
        assert!(table.contains("| memory | repo-server-rs | rss_mb | 9.88 | MB |"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latest.json");
        results.write_json(&path).unwrap();
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back[1]["benchmark"], "memory");
        assert_eq!(back[1]["unit"], "MB");
        assert_eq!(back[0]["value"], 1234.5);
        assert_eq!(results.benchmarks(), ["handshake-p256", "memory"]);
    }
}
