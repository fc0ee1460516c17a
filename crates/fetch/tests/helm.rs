//! Helm repositories against a real HTTPS server on 127.0.0.1 serving charts made by the real
//! helm, with Basic auth and a certificate from a private CA: index caching, version
//! resolution, errors, credentials, TLS trust, caps, digests and proxies.

#[path = "helm/support.rs"]
mod support;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use repo_fetch::{Error, Event, Fetcher, Proxies, Settings};
use repo_source::{Creds, Repo};
use repo_testkit::served::{Hit, Server};
use sha2::{Digest, Sha256};
use support::{serve, Pki, Proxy, AUTHORIZATION, PASSWORD, PROXIED_HOST, USER};

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    helm: PathBuf,
    pki: Pki,
    /// The served repository (`/charts`).
    charts: PathBuf,
    server: Server,
    /// `ARGOCD_TLS_DATA_PATH`, trusting the test CA for 127.0.0.1.
    tls: PathBuf,
    events: Arc<Mutex<Vec<Event>>>,
}

/// A repository served over HTTPS with Basic auth; `None` (skip) without helm.
async fn fixture() -> Option<Fixture> {
    let helm = support::helm()?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let pki = Pki::new();
    let charts = support::charts(&helm, &dir);
    let server = serve(&dir, Some(pki.config(None)), true);
    let tls = pki.trust(&dir.join("tls"), &["127.0.0.1"]);
    Some(Fixture {
        _tmp: tmp,
        dir,
        helm,
        pki,
        charts,
        server,
        tls,
        events: Arc::default(),
    })
}

fn creds() -> Creds {
    Creds {
        username: USER.into(),
        password: PASSWORD.into(),
        ..Creds::default()
    }
}

impl Fixture {
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/charts", self.server.port)
    }

    fn repo(&self, creds: Creds) -> Repo {
        Repo::new(&self.url(), creds).unwrap()
    }

    fn settings(&self) -> Settings {
        support::settings(&self.dir, &self.tls, &self.events)
    }

    fn fetcher(&self) -> Fetcher {
        Fetcher::new(self.settings()).unwrap()
    }

    fn index_hits(&self) -> Vec<Hit> {
        self.server.hits("/charts/index.yaml")
    }
}

/// `err` is a `kind` whose message names each of `names` and never the password.
#[track_caller]
fn names(err: &Error, names: &[&str]) {
    let text = err.to_string();
    for name in names {
        assert!(text.contains(name), "{name:?} missing from: {text}");
    }
    assert!(!text.contains(PASSWORD), "password shown: {text}");
}

#[tokio::test]
async fn index_is_fetched_once_then_served_from_memory() {
    let Some(f) = fixture().await else { return };
    let fetcher = f.fetcher();
    let repo = f.repo(creds());
    let first = fetcher.index(&repo, false).await.unwrap();
    let versions: Vec<&str> = first.entries["mychart"]
        .iter()
        .map(|e| e.version.as_str())
        .collect();
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(sorted, ["1.0.0", "1.2.3", "1.5.0", "2.0.0-rc.1"]);
    let entry = &first.entries["mychart"][0];
    assert_eq!(entry.description, "A Helm chart for Kubernetes");
    assert_eq!(entry.digest.len(), 64, "helm repo index writes digests");

    let second = fetcher.index(&repo, false).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(f.index_hits().len(), 1, "the second call made no request");

    fetcher.index(&repo, true).await.unwrap();
    assert_eq!(f.index_hits().len(), 2, "fresh bypasses the cache");
    let hit = &f.index_hits()[0];
    assert_eq!(hit.authorization.as_deref(), Some(AUTHORIZATION));

    let events = f.events.lock().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events
        .iter()
        .all(|e| e.kind == "helm" && e.op == "index" && e.ok && e.repo == f.url()));
}

#[tokio::test]
async fn an_index_older_than_the_ttl_is_read_again() {
    let Some(f) = fixture().await else { return };
    let fetcher = Fetcher::new(Settings {
        index_ttl: std::time::Duration::ZERO,
        ..f.settings()
    })
    .unwrap();
    let repo = f.repo(creds());
    fetcher.index(&repo, false).await.unwrap();
    fetcher.index(&repo, false).await.unwrap();
    assert_eq!(f.index_hits().len(), 2);
}

#[tokio::test]
async fn concurrent_calls_share_one_download() {
    let Some(f) = fixture().await else { return };
    let fetcher = f.fetcher();
    let repo = f.repo(creds());
    let calls = (0..8).map(|_| fetcher.index(&repo, false));
    for index in futures_util::future::join_all(calls).await {
        index.unwrap();
    }
    assert_eq!(f.index_hits().len(), 1);
}

#[tokio::test]
async fn versions_resolve_with_upstream_rules() {
    let Some(f) = fixture().await else { return };
    let fetcher = f.fetcher();
    let repo = f.repo(creds());
    assert_eq!(
        fetcher
            .chart_version(&repo, "mychart", "1.2.3", false)
            .await
            .unwrap(),
        "1.2.3"
    );
    assert!(f.index_hits().is_empty(), "a version is a pin: no request");
    for (constraint, version) in [
        ("^1.0", "1.5.0"),
        ("~1.2", "1.2.3"),
        ("*", "1.5.0"),
        (">=2.0.0-0", "2.0.0-rc.1"),
        ("<1.5.0", "1.2.3"),
    ] {
        let got = fetcher
            .chart_version(&repo, "mychart", constraint, false)
            .await
            .unwrap();
        assert_eq!(got, version, "{constraint}");
    }
    assert_eq!(f.index_hits().len(), 1);
}

#[tokio::test]
async fn missing_charts_and_versions_are_named() {
    let Some(f) = fixture().await else { return };
    let fetcher = f.fetcher();
    let repo = f.repo(creds());
    let url = f.url();

    let err = fetcher
        .chart_version(&repo, "nope", "^1.0", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    names(&err, &[&url, "nope"]);

    let err = fetcher
        .chart_version(&repo, "mychart", "^9.0", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    names(&err, &[&url, "mychart", "^9.0"]);

    let err = fetcher
        .chart(&repo, "mychart", "9.9.9", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    names(&err, &[&url, "mychart", "9.9.9"]);

    let err = fetcher
        .chart(&repo, "nope", "1.0.0", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    names(&err, &[&url, "nope"]);
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_denied() {
    let Some(f) = fixture().await else { return };
    let fetcher = f.fetcher();
    let wrong = Creds {
        password: "not-the-password".into(),
        ..creds()
    };
    for repo in [
        f.repo(wrong),
        f.repo(Creds::default()),
        Repo::new(
            &f.url().replace("https://", "https://alice:wrong-in-url@"),
            Creds::default(),
        )
        .unwrap(),
    ] {
        let err = fetcher.index(&repo, false).await.unwrap_err();
        assert!(matches!(err, Error::Denied(_)), "{err}");
        names(&err, &[&f.url(), "401"]);
        assert!(!err.to_string().contains("not-the-password"), "{err}");
        assert!(!err.to_string().contains("wrong-in-url"), "{err}");
    }
    let token = Creds {
        bearer_token: support::TOKEN.into(),
        ..Creds::default()
    };
    fetcher.index(&f.repo(token), false).await.unwrap();
    // The URL's userinfo is used when the repository has no credentials of its own.
    let userinfo = f
        .url()
        .replace("https://", &format!("https://{USER}:{PASSWORD}@"));
    let repo = Repo::new(&userinfo, Creds::default()).unwrap();
    fetcher.index(&repo, false).await.unwrap();
    // A failure is never cached: the right credentials work at once.
    fetcher.index(&f.repo(creds()), false).await.unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_fails_until_its_ca_is_mounted() {
    let Some(f) = fixture().await else { return };
    let tls = f.dir.join("no-ca");
    let mut settings = f.settings();
    settings.tls_data_path = tls.clone();
    let fetcher = Fetcher::new(settings).unwrap();
    let repo = f.repo(creds());
    let err = fetcher.index(&repo, false).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    names(
        &err,
        &[
            &f.url(),
            "TLS",
            &tls.join("127.0.0.1").display().to_string(),
        ],
    );
    assert!(f.index_hits().is_empty(), "no request went out");

    // argocd-tls-certs-cm gains the CA: the next call trusts it, no restart.
    f.pki.trust(&tls, &["127.0.0.1"]);
    fetcher.index(&repo, false).await.unwrap();

    // `insecure` skips verification altogether.
    let fetcher = Fetcher::new(Settings {
        tls_data_path: f.dir.join("still-no-ca"),
        ..f.settings()
    })
    .unwrap();
    let insecure = Creds {
        insecure: true,
        ..creds()
    };
    fetcher.index(&f.repo(insecure), false).await.unwrap();
}

#[tokio::test]
async fn an_index_over_the_cap_is_refused() {
    let Some(f) = fixture().await else { return };
    let size = std::fs::metadata(f.charts.join("index.yaml"))
        .unwrap()
        .len();
    // Refused by its Content-Length, then while streaming when the server sends none.
    for chunked in [false, true] {
        f.server.chunked.store(chunked, Ordering::SeqCst);
        let fetcher = Fetcher::new(Settings {
            max_index_bytes: size - 1,
            ..f.settings()
        })
        .unwrap();
        let err = fetcher.index(&f.repo(creds()), false).await.unwrap_err();
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
        names(&err, &[&f.url(), "--helm-registry-max-index-size"]);
        let fetcher = Fetcher::new(Settings {
            max_index_bytes: size,
            ..f.settings()
        })
        .unwrap();
        fetcher.index(&f.repo(creds()), false).await.unwrap();
    }
    let hits = f.index_hits();
    assert_eq!(hits.len(), 4);
}

#[tokio::test]
async fn a_chart_is_pulled_once_and_kept_by_content() {
    let Some(f) = fixture().await else { return };
    let repo = f.repo(creds());
    let archive = "/charts/mychart-1.2.3.tgz";
    let bytes = std::fs::read(f.charts.join("mychart-1.2.3.tgz")).unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));

    let fetcher = f.fetcher();
    let blob = fetcher
        .chart(&repo, "mychart", "1.2.3", false)
        .await
        .unwrap();
    assert_eq!(blob.digest, digest);
    assert_eq!(std::fs::read(&blob.path).unwrap(), bytes);
    let again = fetcher
        .chart(&repo, "mychart", "1.2.3", false)
        .await
        .unwrap();
    assert_eq!(again, blob);
    assert_eq!(f.server.hits(archive).len(), 1);
    assert_eq!(f.index_hits().len(), 1);
    let hit = &f.server.hits(archive)[0];
    assert_eq!(
        hit.authorization.as_deref(),
        Some(AUTHORIZATION),
        "same host: credentials"
    );
    let ops: Vec<&str> = f.events.lock().iter().map(|e| e.op).collect();
    assert_eq!(ops, ["index", "pull"]);

    // After a restart the store still has it: only the index is read again.
    let fetcher = f.fetcher();
    let blob = fetcher
        .chart(&repo, "mychart", "1.2.3", false)
        .await
        .unwrap();
    assert_eq!(blob.digest, digest);
    assert_eq!(f.server.hits(archive).len(), 1);
    assert_eq!(f.index_hits().len(), 2);
}

#[tokio::test]
async fn an_archive_that_is_not_what_the_index_says_is_refused() {
    let Some(f) = fixture().await else { return };
    // The server now sends another archive under the indexed name.
    std::fs::copy(
        f.charts.join("mychart-1.5.0.tgz"),
        f.charts.join("mychart-1.0.0.tgz"),
    )
    .unwrap();
    let settings = f.settings();
    let fetcher = Fetcher::new(settings.clone()).unwrap();
    let err = fetcher
        .chart(&f.repo(creds()), "mychart", "1.0.0", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    names(&err, &[&f.url(), "mychart", "1.0.0"]);
    assert_eq!(
        support::stored(&settings),
        Vec::<String>::new(),
        "nothing kept"
    );
    let event = f.events.lock().last().cloned().unwrap();
    assert!(event.op == "pull" && !event.ok, "{event:?}");
}

#[tokio::test]
async fn credentials_go_to_another_host_only_with_pass_credentials() {
    let Some(f) = fixture().await else { return };
    let cdn_root = f.dir.join("cdn");
    std::fs::create_dir_all(&cdn_root).unwrap();
    support::charts(&f.helm, &cdn_root);
    let cdn = serve(&cdn_root, Some(f.pki.config(None)), true);
    let elsewhere = format!("https://127.0.0.1:{}/charts/mychart-1.0.0.tgz", cdn.port);
    let index = std::fs::read_to_string(f.charts.join("index.yaml")).unwrap();
    let index = index.replace("- mychart-1.0.0.tgz", &format!("- {elsewhere}"));
    assert!(index.contains(&elsewhere));
    std::fs::write(f.charts.join("index.yaml"), index).unwrap();

    let repo = f.repo(creds());
    let fetcher = f.fetcher();
    let err = fetcher
        .chart(&repo, "mychart", "1.0.0", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Denied(_)), "{err}");
    names(&err, &["passCredentials", "mychart", "1.0.0"]);
    let hits = cdn.hits("/charts/mychart-1.0.0.tgz");
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].authorization, None,
        "no credentials to another host"
    );

    let blob = fetcher
        .chart(&repo, "mychart", "1.0.0", true)
        .await
        .unwrap();
    assert!(blob.path.is_file());
    let hits = cdn.hits("/charts/mychart-1.0.0.tgz");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[1].authorization.as_deref(), Some(AUTHORIZATION));
}

#[tokio::test]
async fn redirects_drop_credentials_off_host_and_never_downgrade() {
    let Some(f) = fixture().await else { return };
    let cdn_root = f.dir.join("cdn");
    std::fs::create_dir_all(&cdn_root).unwrap();
    support::charts(&f.helm, &cdn_root);
    let cdn = serve(&cdn_root, Some(f.pki.config(None)), false);
    let plain = serve(&cdn_root, None, false);
    let redirect = |name: &str, to: String| {
        std::fs::write(f.charts.join(format!("{name}.redirect")), to).unwrap();
    };
    let tgz = "/charts/mychart-1.2.3.tgz";
    redirect(
        "mychart-1.2.3.tgz",
        format!("https://127.0.0.1:{}{tgz}", cdn.port),
    );
    let old = "/charts/mychart-1.0.0.tgz";
    redirect(
        "mychart-1.0.0.tgz",
        format!("http://127.0.0.1:{}{old}", plain.port),
    );

    let fetcher = f.fetcher();
    let repo = f.repo(creds());
    fetcher
        .chart(&repo, "mychart", "1.2.3", false)
        .await
        .unwrap();
    assert_eq!(
        f.server.hits(tgz)[0].authorization.as_deref(),
        Some(AUTHORIZATION)
    );
    assert_eq!(cdn.hits(tgz).len(), 1);
    assert_eq!(cdn.hits(tgz)[0].authorization, None, "stripped off host");

    let err = fetcher
        .chart(&repo, "mychart", "1.0.0", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    names(&err, &[&f.url(), "mychart", "1.0.0", "plain http"]);
    assert!(plain.hits(old).is_empty(), "never followed");
}

/// A fixture whose repository is reachable only through the proxy (its host name resolves
/// nowhere else).
async fn proxied(f: &Fixture, proxies: Proxies, creds: Creds) -> Result<(), Error> {
    let tls = f.pki.trust(&f.dir.join("tls-proxied"), &[PROXIED_HOST]);
    let fetcher = Fetcher::new(Settings {
        proxies,
        tls_data_path: tls,
        ..f.settings()
    })
    .unwrap();
    let url = format!("https://{PROXIED_HOST}:{}/charts", f.server.port);
    let repo = Repo::new(&url, creds).unwrap();
    fetcher.index(&repo, false).await.map(|_| ())
}

#[tokio::test]
async fn proxies_from_the_repository_or_the_pod_are_used() {
    let Some(f) = fixture().await else { return };
    let proxy = Proxy::start().await;
    let target = format!("{PROXIED_HOST}:{}", f.server.port);
    let pod = Proxies {
        https: proxy.url(),
        ..Proxies::default()
    };
    proxied(&f, pod.clone(), creds()).await.unwrap();
    assert_eq!(*proxy.tunnels.lock(), [target]);

    let own = Creds {
        proxy: proxy.url(),
        ..creds()
    };
    proxied(&f, Proxies::default(), own).await.unwrap();
    assert_eq!(proxy.tunnels.lock().len(), 2);

    // NO_PROXY names the host: the request goes direct, and the name does not resolve.
    let bypass = Proxies {
        no: PROXIED_HOST.into(),
        ..pod
    };
    let err = proxied(&f, bypass, creds()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    assert_eq!(proxy.tunnels.lock().len(), 2);

    // Loopback is never proxied (as Go's httpproxy): the fixture's own URL goes direct.
    let fetcher = Fetcher::new(Settings {
        proxies: Proxies {
            https: proxy.url(),
            ..Proxies::default()
        },
        ..f.settings()
    })
    .unwrap();
    fetcher.index(&f.repo(creds()), false).await.unwrap();
    assert_eq!(proxy.tunnels.lock().len(), 2);
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_configured() {
    let Some(f) = fixture().await else { return };
    let clients = repo_testkit::Ca::new("client CA");
    let pair = clients.issue(&repo_testkit::Leaf::client("argocd"));
    let mtls = serve(&f.dir, Some(f.pki.config(Some(&clients))), false);
    let url = format!("https://127.0.0.1:{}/charts", mtls.port);
    let fetcher = f.fetcher();

    let err = fetcher
        .index(&Repo::new(&url, Creds::default()).unwrap(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    assert!(mtls.hits("/charts/index.yaml").is_empty());

    let with_cert = Creds {
        tls_client_cert_data: pair.cert.clone(),
        tls_client_cert_key: pair.key.clone(),
        ..Creds::default()
    };
    fetcher
        .index(&Repo::new(&url, with_cert).unwrap(), false)
        .await
        .unwrap();
    assert_eq!(mtls.hits("/charts/index.yaml").len(), 1);

    let broken = Creds {
        tls_client_cert_data: pair.cert.clone(),
        tls_client_cert_key:
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
                .into(),
        ..Creds::default()
    };
    let err = fetcher
        .index(&Repo::new(&url, broken).unwrap(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
}
