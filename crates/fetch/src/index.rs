//! A Helm repository's `index.yaml`: only the fields the server reads (chart versions, their
//! download URLs and digests, and what GetRevisionChartDetails shows).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::Error;

/// The charts of a Helm repository, by name, each with its versions in index order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Index {
    #[serde(default, deserialize_with = "entries")]
    pub entries: BTreeMap<String, Vec<Entry>>,
}

/// One version of a chart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Entry {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub home: String,
    #[serde(default, deserialize_with = "nullable")]
    pub maintainers: Vec<Maintainer>,
    /// Where the archive is; a relative URL is relative to the repository URL.
    #[serde(default, deserialize_with = "nullable")]
    pub urls: Vec<String>,
    /// Hex SHA-256 of the archive, when the index has one.
    #[serde(default, deserialize_with = "nullable")]
    pub digest: String,
    #[serde(default)]
    pub created: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Maintainer {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub url: String,
}

/// `key: null` (or `key:`) reads as the default, as go-yaml leaves the field zero.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `entries`, where a chart without versions may read `name: ~`.
fn entries<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<Entry>>, D::Error> {
    let raw: Option<BTreeMap<String, Option<Vec<Entry>>>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(chart, versions)| (chart, versions.unwrap_or_default()))
        .collect())
}

impl Index {
    /// Parses `index.yaml`; `repo` (no userinfo) names it in errors. CPU-bound: callers run it
    /// off the async threads.
    pub(crate) fn parse(bytes: &[u8], repo: &str) -> Result<Self, Error> {
        let mut budget = serde_saphyr::Budget::default();
        // Big public indexes hold millions of nodes. Each takes at least a byte of input, so
        // scaling these caps with the input keeps parsing linear: alias expansion (billion
        // laughs) still breaches them.
        budget.max_events = budget.max_events.max(bytes.len());
        budget.max_nodes = budget.max_nodes.max(bytes.len());
        budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(bytes.len());
        let mut options = serde_saphyr::Options::default();
        options.budget = Some(budget);
        options.legacy_octal_numbers = true;
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
        serde_saphyr::from_slice_with_options(bytes, options).map_err(|e| {
            // The first line says where and what; the rest quotes the index.
            let e = e.to_string();
            let e = e.lines().next().unwrap_or_default();
            Error::Corrupt(format!("{repo}: index.yaml is not a Helm index: {e}"))
        })
    }

    /// The versions of `chart`, or why there are none.
    pub(crate) fn chart(&self, chart: &str, repo: &str) -> Result<&[Entry], Error> {
        self.entries.get(chart).map(Vec::as_slice).ok_or_else(|| {
            Error::NotFound(format!("{repo}: chart {chart:?} not found in index.yaml"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  nginx:
  - apiVersion: v2
    appVersion: 1.16.0
    created: "2024-01-02T03:04:05.123456789Z"
    description: A Helm chart for Kubernetes
    digest: 0a1b2c
    home: https://example.com
    maintainers:
    - name: Alice
      email: alice@example.com
    name: nginx
    type: application
    urls:
    - nginx-1.0.0.tgz
    version: 1.0.0
  - name: nginx
    version: 1.10
    urls: [https://cdn.example/nginx-1.10.tgz]
    description:
    maintainers: ~
  empty: ~
generated: "2024-01-02T03:04:05Z"
"#;

    #[test]
    fn reads_the_fields_it_needs() {
        let index = Index::parse(INDEX.as_bytes(), "https://r").unwrap();
        let nginx = index.chart("nginx", "https://r").unwrap();
        assert_eq!(nginx.len(), 2);
        assert_eq!(nginx[0].digest, "0a1b2c");
        assert_eq!(nginx[0].urls, ["nginx-1.0.0.tgz"]);
        assert_eq!(nginx[0].maintainers[0].email, "alice@example.com");
        assert_eq!(
            nginx[0].created.as_deref(),
            Some("2024-01-02T03:04:05.123456789Z")
        );
        assert_eq!(
            nginx[1].version, "1.10",
            "a version that looks like a float stays text"
        );
        assert_eq!(nginx[1].description, "");
        assert!(index.chart("empty", "https://r").unwrap().is_empty());
        let err = index.chart("nope", "https://r").unwrap_err();
        assert_eq!(
            err.to_string(),
            "https://r: chart \"nope\" not found in index.yaml"
        );
    }

    #[test]
    fn reads_indexes_bigger_than_the_default_budget() {
        let mut text = String::from("apiVersion: v1\nentries:\n");
        for chart in 0..3000 {
            text.push_str(&format!("  c{chart}:\n"));
            for v in 0..10 {
                text.push_str(&format!(
                    "  - name: c{chart}\n    version: 1.{v}.0\n    digest: d\n    urls: [c{chart}-1.{v}.0.tgz]\n"
                ));
            }
        }
        let index = Index::parse(text.as_bytes(), "https://r").unwrap();
        assert_eq!(index.entries.len(), 3000);
        assert_eq!(index.entries["c2999"][9].version, "1.9.0");
    }

    #[test]
    fn refuses_what_is_no_index_and_alias_bombs() {
        let err = Index::parse(b"entries: [1, 2", "https://r").unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        assert!(
            err.to_string().starts_with("https://r: index.yaml"),
            "{err}"
        );
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        bomb.push_str("entries: {}\n");
        let err = Index::parse(bomb.as_bytes(), "https://r").unwrap_err();
        assert!(err.to_string().contains("budget"), "{err}");
    }
}
