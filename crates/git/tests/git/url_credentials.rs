//! Credentials given in the URL (`https://user:token@host/…`) are credentials like any other:
//! what they proved proves nothing for a request without them.

use repo_git::{Creds, Error, Repo, Revision};

use crate::support::{self, http, Fixture, Http};

#[tokio::test]
async fn credentials_in_the_url_prove_nothing_for_a_request_without_them() {
    let fixture = Fixture::new();
    let Some(server) = Http::start(&fixture.root).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = support::cache(dir.path());
    let url = server.url("repo.git");
    let userinfo = format!("http://{}:{}@", http::USER, http::PASSWORD);
    let in_url = Repo::new(&url.replacen("http://", &userinfo, 1), Creds::default()).unwrap();
    let none = Repo::new(&url, Creds::default()).unwrap();
    assert_eq!(in_url.remote.key, none.remote.key);

    let sha = &fixture.commits[4];
    let main = Revision::new("main").unwrap();
    assert_eq!(cache.resolve(&in_url, &main, "").await.unwrap().sha, *sha);
    cache.snapshot(&in_url, sha).await.unwrap();

    let errors = [
        cache.resolve(&none, &main, "").await.unwrap_err(),
        cache.snapshot(&none, sha).await.unwrap_err(),
        cache.commit(&none, sha).await.unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, Error::Unauthenticated { .. }), "{err}");
    }
    // And the URL's credentials stay proven.
    cache.snapshot(&in_url, sha).await.unwrap();
}
