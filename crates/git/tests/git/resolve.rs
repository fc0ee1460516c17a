//! Revision resolution over git:// against the fixture's history.

use repo_git::{Error, Resolved, Revision};

use crate::support::{self, Daemon, Fixture};

#[tokio::test]
async fn revisions_resolve_like_upstream() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = support::repo(&daemon.url("repo.git"));
    let c = &fixture.commits;
    let found = |sha: &str, reference: &str| Resolved {
        sha: sha.to_string(),
        reference: (!reference.is_empty()).then(|| reference.to_string()),
    };

    let cases = [
        ("", "", found(&c[4], "refs/heads/main")),
        ("HEAD", "", found(&c[4], "refs/heads/main")),
        ("main", "", found(&c[4], "refs/heads/main")),
        ("feature", "", found(&c[3], "refs/heads/feature")),
        ("refs/heads/feature", "", found(&c[3], "refs/heads/feature")),
        ("light", "", found(&c[0], "refs/tags/light")),
        ("refs/tags/light", "", found(&c[0], "refs/tags/light")),
        // Annotated tags resolve to the commit, not the tag object.
        ("v1.0.0", "", found(&c[0], "refs/tags/v1.0.0")),
        ("refs/tags/v2.0.0", "", found(&c[4], "refs/tags/v2.0.0")),
        ("refs/pull/1/head", "", found(&c[5], "refs/pull/1/head")),
        (&c[2], "", found(&c[2], "")),
        (&c[2][..7], "", found(&c[2], "")),
        (&c[1][..12].to_uppercase(), "", found(&c[1], "")),
        ("1.2.*", "", found(&c[2], "refs/tags/v1.2.5")),
        (">=1.0.0 <2.0.0", "", found(&c[2], "refs/tags/v1.2.5")),
        ("^1.2", "", found(&c[2], "refs/tags/v1.2.5")),
        ("~1.2.0", "", found(&c[2], "refs/tags/v1.2.5")),
        ("*", "", found(&c[4], "refs/tags/v2.0.0")),
        (">=1.3.0-0 <2.0.0", "", found(&c[4], "refs/tags/v1.3.0-rc1")),
        ("1.x", "app/", found(&c[2], "refs/tags/app/1.4.0")),
    ];
    for (revision, prefix, want) in cases {
        let got = cache
            .resolve(&repo, &Revision::new(revision).unwrap(), prefix)
            .await;
        assert_eq!(
            got.as_ref().ok(),
            Some(&want),
            "{revision:?} (prefix {prefix:?}): {got:?}"
        );
    }

    for missing in ["nope", "refs/heads/nope", "9.x", "0000000", &"f".repeat(12)] {
        let err = cache
            .resolve(&repo, &Revision::new(missing).unwrap(), "")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{missing}: {err}");
        assert!(
            err.to_string().contains(missing),
            "names the revision: {err}"
        );
    }
}

#[tokio::test]
async fn unknown_full_sha_is_not_found_when_snapshotting() {
    let fixture = Fixture::new();
    let Some(daemon) = Daemon::start(&fixture.root) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let repo = support::repo(&daemon.url("repo.git"));
    let bogus = "0123456789abcdef0123456789abcdef01234567";
    // Passed through unverified, as upstream does…
    assert_eq!(
        cache
            .resolve(&repo, &Revision::new(bogus).unwrap(), "")
            .await
            .unwrap()
            .sha,
        bogus
    );
    // …and refused once it has to be checked out.
    let err = cache.snapshot(&repo, bogus).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(bogus), "{err}");

    // A commit only a pull-request ref reaches is fetched by id.
    let pr = cache.snapshot(&repo, &fixture.commits[5]).await.unwrap();
    assert!(pr.path().join("pr.txt").exists());

    let missing = support::repo(&daemon.url("missing.git"));
    let err = cache.refs(&missing).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}
