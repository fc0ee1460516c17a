//! The binary started as upstream's manifests and the argo-helm chart start it: the binary's
//! own path as the first argument, upstream flags this server does not implement, and
//! upstream's environment (`REDIS_PASSWORD` from a Secret). It must serve, naming each
//! unimplemented setting in one warning and never logging a value.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn upstream_container_args_start_the_server() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("upstream-args-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_argocd-repo-server"))
        .args([
            "/usr/local/bin/argocd-repo-server",
            "--port=0",
            "--metrics-port=0",
            "--address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            "--disable-tls",
            "--logformat=json",
            "--otlp-address",
            "otel-collector:4317",
            "--redis",
            "argocd-redis:6379",
            "--repo-cache-expiration",
            "24h",
        ])
        .env_clear()
        .env("REDIS_PASSWORD", "redis-s3cret")
        .env("REDIS_SERVER", "argocd-redis:6379")
        .env("ARGOCD_REPO_SERVER_REPO_CACHE_DIR", &cache)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let serving = line.contains("serving on");
        lines.push(line);
        if serving {
            break;
        }
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let text = lines.join("\n");
    assert!(
        lines.last().is_some_and(|l| l.contains("serving on")),
        "the server did not start ({status}):\n{text}"
    );
    let warnings: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["level"] == "warning")
        .collect();
    let named = |setting: &str| {
        warnings
            .iter()
            .filter(|w| {
                w["msg"].as_str().is_some_and(|m| {
                    m.starts_with(&format!(
                        "upstream setting {setting} is not implemented here"
                    ))
                })
            })
            .count()
    };
    // Implemented: an unreachable collector neither warns nor stops the server.
    assert_eq!(
        named("--otlp-address / ARGOCD_REPO_SERVER_OTLP_ADDRESS"),
        0,
        "{text}"
    );
    assert_eq!(named("--redis / REDIS_SERVER"), 0, "{text}");
    assert_eq!(named("REDIS_PASSWORD"), 0, "{text}");
    let unimplemented = warnings.iter().filter(|w| {
        w["msg"]
            .as_str()
            .is_some_and(|m| m.contains("is not implemented here"))
    });
    assert_eq!(unimplemented.count(), 0, "{text}");
    assert!(
        !text.contains("redis-s3cret"),
        "a secret was logged:\n{text}"
    );
}
