//! Clone and snapshot over each transport, with each kind of credentials.

use repo_git::{Creds, Error, Repo, Revision};

use crate::support::{self, http, Daemon, Fixture, Http, Sshd};

fn read(snapshot: &repo_git::Snapshot, path: &str) -> String {
    std::fs::read_to_string(snapshot.path().join(path)).unwrap()
}

#[tokio::test]
async fn git_daemon_resolve_and_snapshot() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = support::repo(&daemon.url("repo.git"));

    let head = cache
        .resolve(&repo, &Revision::new("HEAD").unwrap(), "")
        .await
        .unwrap();
    assert_eq!(head.sha, fixture.commits[4]);
    let snapshot = cache.snapshot(&repo, &head.sha).await.unwrap();
    assert_eq!(snapshot.sha(), fixture.commits[4]);
    assert_eq!(read(&snapshot, "a.txt"), "five\n");
    assert_eq!(read(&snapshot, "dir/c.yaml"), "b: 1\n");
    assert!(!snapshot.path().join("dir/b.yaml").exists());
    assert!(
        !snapshot.path().join(".git").exists(),
        "a snapshot is files only"
    );

    let old = cache.snapshot(&repo, &fixture.commits[0]).await.unwrap();
    assert_eq!(read(&old, "a.txt"), "one\n");
    assert_eq!(
        read(&snapshot, "a.txt"),
        "five\n",
        "snapshots are independent"
    );
    cache.test(&repo).await.unwrap();
}

#[tokio::test]
async fn http_basic_auth() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let url = server.url("repo.git");
    let with = |username: &str, password: &str| {
        Repo::new(
            &url.clone(),
            Creds {
                username: username.into(),
                password: password.into(),
                ..Creds::default()
            },
        )
        .unwrap()
    };

    let good = with(http::USER, http::PASSWORD);
    let head = cache
        .resolve(&good, &Revision::new("").unwrap(), "")
        .await
        .unwrap();
    let snapshot = cache.snapshot(&good, &head.sha).await.unwrap();
    assert_eq!(read(&snapshot, "a.txt"), "five\n");

    let wrong = with(http::USER, "wrong-password-77");
    let err = cache.test(&wrong).await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wrong-password-77"), "{shown}");
    assert!(shown.contains(&url), "names the repository: {shown}");

    let err = cache.test(&support::repo(&url)).await.unwrap_err();
    assert!(
        matches!(err, Error::Unauthenticated { .. }),
        "no credentials: {err}"
    );

    // Credentials in the URL reach git through the askpass helper, never argv or messages.
    let inline = format!(
        "http://{}:{}@127.0.0.1:{}/repo.git",
        http::USER,
        http::PASSWORD,
        server.port
    );
    cache.test(&support::repo(&inline)).await.unwrap();
    let inline = format!(
        "http://{}:url-secret-99@127.0.0.1:{}/repo.git",
        http::USER,
        server.port
    );
    let err = cache.test(&support::repo(&inline)).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("url-secret-99"), "{err}");

    let bearer = Repo::new(
        &url.clone(),
        Creds {
            bearer_token: http::TOKEN.into(),
            ..Creds::default()
        },
    )
    .unwrap();
    cache.test(&bearer).await.unwrap();
    assert_scratch_empty(dir.path());
}

#[tokio::test]
async fn ssh_with_key_and_known_hosts() {
    let fixture = Fixture::new();
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let url = sshd.url(&fixture.bare());
    let with = |known_hosts: &str, insecure: bool| {
        Repo::new(
            &url.clone(),
            Creds {
                ssh_private_key: sshd.client_key.clone(),
                known_hosts: known_hosts.into(),
                insecure_ignore_host_key: insecure,
                ..Creds::default()
            },
        )
        .unwrap()
    };

    let trusted = with(&sshd.known_hosts, false);
    let head = cache
        .resolve(&trusted, &Revision::new("main").unwrap(), "")
        .await
        .unwrap();
    assert_eq!(head.sha, fixture.commits[4]);
    let snapshot = cache.snapshot(&trusted, &fixture.commits[2]).await.unwrap();
    assert_eq!(read(&snapshot, "a.txt"), "three\n");

    let other = "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
    for unknown in [with("", false), with(other, false)] {
        let err = cache.test(&unknown).await.unwrap_err();
        assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
        assert!(
            err.to_string().contains("Host key verification failed;"),
            "{err}"
        );
    }
    cache.test(&with("", true)).await.unwrap();

    let keyless = Repo::new(
        &url.clone(),
        Creds {
            known_hosts: sshd.known_hosts.clone(),
            ..Creds::default()
        },
    )
    .unwrap();
    let err = cache.test(&keyless).await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
    assert_scratch_empty(dir.path());
}

#[tokio::test]
async fn file_only_when_allowed() {
    let fixture = Fixture::new();
    let url = format!("file://{}", fixture.bare().display());
    let dir = tempfile::tempdir().unwrap();
    let refused = support::cache(dir.path());
    for url in [url.clone(), fixture.bare().display().to_string()] {
        let err = refused.test(&support::repo(&url)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }

    let dir = tempfile::tempdir().unwrap();
    let mut settings = support::settings(dir.path());
    settings.allow_file = true;
    let allowed = repo_git::Cache::new(settings).unwrap();
    let snapshot = allowed
        .snapshot(&support::repo(&url), &fixture.commits[1])
        .await
        .unwrap();
    assert_eq!(read(&snapshot, "a.txt"), "two\n");
}

/// Credential files live only as long as their command.
fn assert_scratch_empty(dir: &std::path::Path) {
    let left: Vec<_> = std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in scratch: {left:?}");
}
