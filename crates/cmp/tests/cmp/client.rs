//! Finding and calling plugins in a sockets directory, as the repo-server does.

use std::path::Path;
use std::time::Duration;

use repo_cmp::{detect, Dial, Error, Pack, Plugin, Sockets};
use repo_source::RepoPath;

use crate::support::{serve, Behavior};

fn repo_with(files: &[&str]) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    for rel in files {
        let path = repo.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x\n").unwrap();
    }
    repo
}

fn pack(repo: &Path, app: &str) -> Pack {
    Pack::new(repo, RepoPath::new(app).unwrap())
}

#[tokio::test]
async fn a_missing_socket_or_a_bad_name_is_named() {
    let sockets = tempfile::tempdir().unwrap();
    let dir = Sockets::new(sockets.path());
    let err = Plugin::named(&dir, "absent", Dial::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NoSocket { path } if path.ends_with("absent.sock")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("ARGOCD_PLUGINSOCKFILEPATH"),
        "{err}"
    );
    let err = Plugin::named(&dir, "../up", Dial::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadName { .. }), "{err:?}");
    // A socket file nobody listens on.
    let dead = sockets.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let err = Plugin::named(&dir, "dead", Dial::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn sockets_are_listed_in_file_name_order_without_other_files() {
    let sockets = tempfile::tempdir().unwrap();
    let _b = serve(sockets.path(), "a", Behavior::default()).await;
    let _a = serve(sockets.path(), "a-v1.0", Behavior::default()).await;
    std::fs::write(sockets.path().join("notes.sock"), b"a file, not a socket").unwrap();
    std::os::unix::fs::symlink(
        sockets.path().join("a.sock"),
        sockets.path().join("link.sock"),
    )
    .unwrap();
    let names: Vec<String> = Sockets::new(sockets.path())
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["a-v1.0", "a"]);
}

#[tokio::test]
async fn discovery_takes_the_first_matching_plugin_in_name_order() {
    let sockets = tempfile::tempdir().unwrap();
    let dir = Sockets::new(sockets.path());
    let repo = repo_with(&["web/match.me", "web/cm.yaml", "api/cm.yaml"]);
    let quiet = Behavior {
        discovery: false,
        ..Behavior::default()
    };
    let _a = serve(sockets.path(), "a-nodiscovery", quiet).await;
    let _b = serve(
        sockets.path(),
        "b-other",
        Behavior {
            marker: "other.marker",
            ..Behavior::default()
        },
    )
    .await;
    let _c = serve(sockets.path(), "c-match", Behavior::default()).await;
    let _d = serve(sockets.path(), "d-match", Behavior::default()).await;
    let found = detect(&dir, None, &pack(repo.path(), "web"), &[], Dial::default())
        .await
        .unwrap();
    assert_eq!(found.plugin.name(), "c-match");
    assert!(found.config.is_discovery_configured);
    let packed = found
        .packed
        .expect("packed for matching, answered for reuse");
    assert_eq!(packed.app_rel_path(), "web");
    let err = detect(&dir, None, &pack(repo.path(), "api"), &[], Dial::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoPlugin { name: None, .. }), "{err:?}");
}

#[tokio::test]
async fn a_named_plugin_is_taken_unless_its_discovery_says_no() {
    let sockets = tempfile::tempdir().unwrap();
    let dir = Sockets::new(sockets.path());
    let repo = repo_with(&["web/cm.yaml"]);
    let quiet = Behavior {
        discovery: false,
        ..Behavior::default()
    };
    let _q = serve(sockets.path(), "quiet", quiet).await;
    let _m = serve(sockets.path(), "matcher", Behavior::default()).await;
    let found = detect(
        &dir,
        Some("quiet"),
        &pack(repo.path(), "web"),
        &[],
        Dial::default(),
    )
    .await
    .unwrap();
    assert_eq!(found.plugin.name(), "quiet");
    assert!(!found.config.is_discovery_configured);
    assert!(
        found.packed.is_none(),
        "nothing packed for a plugin without discovery"
    );
    // Its discovery is enabled and does not match: refused, as upstream.
    let err = detect(
        &dir,
        Some("matcher"),
        &pack(repo.path(), "web"),
        &[],
        Dial::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("could not find cmp-server plugin with name \"matcher\" supporting the given repository"),
        "{err}"
    );
    let err = detect(
        &dir,
        Some("absent"),
        &pack(repo.path(), "web"),
        &[],
        Dial::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("absent.sock not found"), "{err}");
}

#[tokio::test]
async fn a_plugin_that_does_not_answer_meets_the_deadline() {
    let sockets = tempfile::tempdir().unwrap();
    let stall = Behavior {
        stall: true,
        ..Behavior::default()
    };
    let _s = serve(sockets.path(), "slow", stall).await;
    let dial = Dial {
        deadline: Duration::from_millis(300),
        ..Dial::default()
    };
    let plugin = Plugin::named(&Sockets::new(sockets.path()), "slow", dial)
        .await
        .unwrap();
    let repo = repo_with(&["cm.yaml"]);
    let packed = pack(repo.path(), ".").pack().await.unwrap();
    let err = plugin.generate_manifest(&packed, &[]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Deadline {
                call: "GenerateManifest",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn plugin_error_text_is_returned_capped() {
    let sockets = tempfile::tempdir().unwrap();
    let noisy = Behavior {
        // Over the cap, within what HTTP/2 carries in a trailer.
        fail_with: Some(format!("helm failed: {}", "x".repeat(12_000))),
        ..Behavior::default()
    };
    let _s = serve(sockets.path(), "noisy", noisy).await;
    let plugin = Plugin::named(&Sockets::new(sockets.path()), "noisy", Dial::default())
        .await
        .unwrap();
    let repo = repo_with(&["cm.yaml"]);
    let packed = pack(repo.path(), ".").pack().await.unwrap();
    let err = plugin.generate_manifest(&packed, &[]).await.unwrap_err();
    let Error::Plugin { message, code, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, tonic::Code::Unknown);
    assert!(message.starts_with("helm failed: xxx"), "{message:.40}");
    assert!(message.len() < 4200, "{}", message.len());
    assert!(err
        .to_string()
        .starts_with("plugin noisy: GenerateManifest: helm failed"));
}
