//! `GetParametersAnnouncement`: the dynamic command's JSON list first, then the static
//! announcements, as upstream merges them (the later, static, take precedence in the UI).

use std::path::Path;

use repo_proto::repository::ParameterAnnouncement;
use tokio::time::Instant;
use tonic::Code;

use crate::config::{Announcement, Parameters};
use crate::exec::{self, Limits};
use crate::failure::Failure;

pub async fn announcements(
    parameters: &Parameters,
    dir: &Path,
    env: &[(String, String)],
    limits: &Limits,
    deadline: Option<Instant>,
) -> Result<Vec<ParameterAnnouncement>, Failure> {
    let mut all = Vec::new();
    if parameters.dynamic.is_set() {
        let out = exec::run(&parameters.dynamic, dir, env, limits, deadline)
            .await
            .map_err(|e| {
                Failure::from(e).context("error executing dynamic parameter output command")
            })?;
        let dynamic: Option<Vec<Announcement>> = serde_json::from_slice(&out).map_err(|e| {
            Failure::new(
                Code::Unknown,
                format!("error unmarshaling dynamic parameter output into ParametersAnnouncementResponse: {e}"),
            )
        })?;
        all.extend(dynamic.unwrap_or_default());
    }
    all.extend(parameters.r#static.iter().cloned());
    Ok(all.into_iter().map(Into::into).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Command;
    use std::time::Duration;

    async fn announce(dynamic: &[&str]) -> Result<Vec<String>, String> {
        let parameters = Parameters {
            r#static: vec![
                Announcement {
                    name: "static-a".into(),
                    ..Announcement::default()
                },
                Announcement {
                    name: "static-b".into(),
                    ..Announcement::default()
                },
            ],
            dynamic: Command {
                command: dynamic.iter().map(|s| s.to_string()).collect(),
                args: vec![],
            },
        };
        let limits = Limits {
            timeout: Duration::from_secs(60),
            fatal_timeout: Duration::from_secs(10),
            max_output: 1 << 20,
        };
        let got = announcements(&parameters, &std::env::temp_dir(), &[], &limits, None)
            .await
            .map_err(|f| f.message)?;
        Ok(got.into_iter().map(|a| a.name).collect())
    }

    // Upstream's Test_getParametersAnnouncement_*.
    #[tokio::test]
    async fn upstream_cases() {
        assert_eq!(
            announce(&["echo", "[]"]).await.unwrap(),
            ["static-a", "static-b"]
        );
        assert_eq!(announce(&[]).await.unwrap(), ["static-a", "static-b"]);
        assert_eq!(
            announce(&["echo", r#"[{"name": "dynamic-a"}, {"name": "dynamic-b"}]"#])
                .await
                .unwrap(),
            ["dynamic-a", "dynamic-b", "static-a", "static-b"]
        );
        let e = announce(&["echo", "["]).await.unwrap_err();
        assert!(
            e.contains("error unmarshaling dynamic parameter output"),
            "{e}"
        );
        let e = announce(&["sh", "-c", "exit 1"]).await.unwrap_err();
        assert!(
            e.contains("error executing dynamic parameter output command"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn every_field_of_a_dynamic_announcement() {
        let json = r#"[{"name":"p","title":"T","tooltip":"tip","required":true,"itemType":"string","collectionType":"map","string":"s","array":["a"],"map":{"k":"v"}}]"#;
        let parameters = Parameters {
            dynamic: Command {
                command: vec!["echo".into(), json.into()],
                args: vec![],
            },
            ..Parameters::default()
        };
        let limits = Limits {
            timeout: Duration::from_secs(60),
            fatal_timeout: Duration::from_secs(10),
            max_output: 1 << 20,
        };
        let got = announcements(&parameters, &std::env::temp_dir(), &[], &limits, None)
            .await
            .unwrap();
        let want = ParameterAnnouncement {
            name: "p".into(),
            title: "T".into(),
            tooltip: "tip".into(),
            required: true,
            item_type: "string".into(),
            collection_type: "map".into(),
            string: "s".into(),
            array: vec!["a".into()],
            map: [("k".to_string(), "v".to_string())].into_iter().collect(),
        };
        assert_eq!(got, [want]);
    }
}
