//! Jsonnet runs in a child process: a runaway evaluation fails its render, never the process
//! that renders, and stops when it times out or when its caller goes away.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use repo_cache::{Failure, KeyBuilder, Manifests, Memory, Settings};
use repo_render::Error;

use crate::common::{Repo, Request};

const BOMB: &str = "std.makeArray(3e8, function(i) { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' + i } })\n";
/// About 4e18 additions in constant memory.
const ENDLESS: &str = "local sum(n) = std.foldl(function(a, i) a + i, std.range(1, n), 0);\n{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { n: std.toString(std.foldl(function(a, i) a + sum(2e9), std.range(1, 2e9), 0)) } }\n";
const FINE: &str = "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fine' } }\n";

fn key(name: &str) -> repo_cache::Key {
    KeyBuilder::new().part("app", name.as_bytes()).build()
}

fn failure(e: Error) -> Failure {
    Failure {
        code: 9,
        message: e.to_string(),
    }
}

#[tokio::test]
async fn a_memory_bomb_fails_its_render_and_the_next_render_is_served() {
    let repo = Repo::new();
    repo.file("bomb/main.jsonnet", BOMB)
        .file("fine/main.jsonnet", FINE);
    let mut bomb = Request::new(&repo, "bomb");
    bomb.tools.jsonnet_memory = 256 << 20;
    let err = bomb.render().await.unwrap_err();
    let Error::Parse { file, message } = &err else {
        panic!("{err}")
    };
    assert_eq!(file, "bomb/main.jsonnet");
    assert!(
        message.starts_with("failed to evaluate jsonnet: out of memory"),
        "{message}"
    );
    assert!(message.contains("256 MiB"), "{message}");

    let fine = Request::new(&repo, "fine");
    let objects = fine.objects().await;
    assert_eq!(objects[0]["metadata"]["name"], "fine");

    // Counted and paused like any failed render.
    let cache = Manifests::new(
        Memory::new(1 << 20),
        Settings {
            pause_after_failures: 1,
            ..Settings::default()
        },
    );
    for _ in 0..2 {
        let answer = cache
            .get_or_render(key("bomb"), false, || async {
                bomb.render().await.map(|_| vec![]).map_err(failure)
            })
            .await
            .unwrap_err();
        assert!(answer.message.contains("out of memory"), "{answer}");
    }
    let cached = cache
        .get_or_render(key("bomb"), false, || async { panic!("paused: no render") })
        .await
        .unwrap_err();
    assert!(
        cached
            .message
            .starts_with("Manifest generation error (cached): bomb/main.jsonnet: failed to evaluate jsonnet: out of memory"),
        "{cached}"
    );
}

#[tokio::test]
async fn an_endless_evaluation_times_out() {
    let repo = Repo::new();
    repo.file("app/main.jsonnet", ENDLESS);
    let mut req = Request::new(&repo, "app");
    req.tools.timeout = Duration::from_secs(1);
    let rendering = tokio::time::timeout(Duration::from_secs(120), req.render());
    let err = rendering
        .await
        .expect("the evaluation outlived its timeout")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                tool: "jsonnet",
                ..
            }
        ),
        "{err}"
    );
}

/// The evaluator child of this process working in `dir`, if there is one.
fn evaluator_in(dir: &Path) -> Option<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces, so split after its `)`.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            (ppid == me && cwd == dir).then_some(pid)
        })
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn a_dropped_render_kills_its_evaluator_before_freeing_its_slot() {
    let repo = Repo::new();
    repo.file("app/main.jsonnet", ENDLESS);
    let app = repo.root().join("app").canonicalize().unwrap();
    let mut req = Request::new(&repo, "app");
    req.tools.timeout = Duration::from_secs(600);
    let req = Arc::new(req);
    let cache = Arc::new(Manifests::new(
        Memory::new(1 << 20),
        Settings {
            parallelism: 1,
            ..Settings::default()
        },
    ));
    let abandoned = tokio::spawn({
        let (cache, req) = (cache.clone(), req.clone());
        async move {
            cache
                .get_or_render(key("endless"), false, || async {
                    req.render().await.map(|_| vec![]).map_err(failure)
                })
                .await
        }
    });
    // Waiting for the child to appear, not timing it: the bound only keeps a broken build from
    // hanging the suite.
    let mut child = None;
    for _ in 0..600 {
        child = evaluator_in(&app);
        if child.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let child = child.expect("no evaluator child process started");
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());

    let alive_when_next_started = Arc::new(AtomicBool::new(true));
    cache
        .get_or_render(key("next"), false, || {
            let seen = alive_when_next_started.clone();
            async move {
                seen.store(alive(child), SeqCst);
                Ok(vec![])
            }
        })
        .await
        .unwrap();
    assert!(
        !alive_when_next_started.load(SeqCst),
        "the next render started while the evaluator {child} was still there"
    );
}
