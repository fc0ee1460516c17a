//! OCI registries against a real registry (CNCF distribution) on 127.0.0.1: Helm charts pushed
//! with `helm push`, native artifacts pushed with oci-client; tags, semver constraints, digests,
//! pulls into the store, metadata, and every refusal (credentials, unknown tag, media type, size
//! cap, wrong digest, TLS client certificate).

mod token;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use repo_fetch::{Error, Event, Fetcher, Image, Layers, Observer, Proxies, Settings};
use repo_source::{Creds, Repo};
use repo_testkit::registry::{tgz, Mode, Registry, Tools, PASSWORD, TGZ, USER};
use repo_testkit::Helm;
use sha2::{Digest, Sha256};
use token::Signer;

const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

fn repo(registry_path: &str, creds: Creds) -> Repo {
    Repo::new(&format!("oci://{registry_path}"), creds).unwrap()
}

fn basic(password: &str) -> Creds {
    Creds {
        username: USER.into(),
        password: password.into(),
        ..Creds::default()
    }
}

fn image<'a>(repo: &'a Repo, name: String, registry: &Registry) -> Image<'a> {
    Image {
        repo,
        name,
        plain_http: registry.mode != Mode::Tls,
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Every file under `dir` whose name holds `hex`: what the store kept of a blob.
fn stored(dir: &Path, hex: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(hex) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

struct Setup {
    dir: tempfile::TempDir,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Setup {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            events: Arc::default(),
        }
    }

    fn settings(&self) -> Settings {
        let (dir, events) = (self.dir.path(), self.events.clone());
        Settings {
            dir: dir.join("store"),
            budget_bytes: 1 << 30,
            index_ttl: Duration::from_secs(60),
            max_index_bytes: 1 << 20,
            max_archive_bytes: 1 << 20,
            tls_data_path: dir.join("tls"),
            oci_media_types: vec![
                "application/vnd.oci.image.layer.v1.tar".into(),
                TGZ.into(),
                HELM_CHART.into(),
            ],
            timeout: Duration::from_secs(30),
            proxies: Proxies::default(),
            user_agent: None,
            observer: Some(Observer::new(move |e: &Event| {
                events.lock().push(e.clone())
            })),
        }
    }

    fn fetcher(&self) -> Fetcher {
        Fetcher::new(self.settings()).unwrap()
    }

    fn store(&self) -> std::path::PathBuf {
        self.settings().dir
    }
}

#[tokio::test]
async fn helm_chart_tags_constraints_digests_and_pull() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let helm = Helm::new(&tools.helm);
    let mut archive = Vec::new();
    for version in ["1.0.0", "1.2.0", "1.3.0+build.1", "2.0.0"] {
        let path = helm.chart("demo", version);
        registry.push_chart(&helm, &path, "charts");
        if version == "1.2.0" {
            archive = std::fs::read(path).unwrap();
        }
    }
    let setup = Setup::new();
    let fetcher = setup.fetcher();
    let repo = repo(&format!("{}/charts", registry.host), Creds::default());
    let image = image(&repo, format!("{}/charts/demo", registry.host), &registry);

    let mut tags = fetcher.tags(&image, false).await.unwrap();
    tags.sort();
    assert_eq!(
        tags,
        ["1.0.0", "1.2.0", "1.3.0+build.1", "2.0.0"],
        "Helm's _ read back as +"
    );

    let d120 = fetcher.resolve(&image, "1.2.0", false).await.unwrap();
    let d130 = fetcher
        .resolve(&image, "1.3.0+build.1", false)
        .await
        .unwrap();
    assert!(d120.starts_with("sha256:") && d120 != d130);
    assert_eq!(fetcher.resolve(&image, "^1.0", false).await.unwrap(), d130);
    assert_eq!(
        fetcher
            .resolve(&image, ">=1.0.0 <1.3.0", true)
            .await
            .unwrap(),
        d120
    );
    let requests = setup.events.lock().len();
    assert_eq!(fetcher.resolve(&image, &d120, false).await.unwrap(), d120);
    assert_eq!(
        setup.events.lock().len(),
        requests,
        "a digest is used as is"
    );

    // Tags and resolutions are cached; `fresh` (a hard refresh) asks the registry again.
    registry.push_chart(&helm, &helm.chart("demo", "1.4.0"), "charts");
    assert_eq!(fetcher.tags(&image, false).await.unwrap().len(), 4);
    assert_eq!(fetcher.resolve(&image, "^1.0", false).await.unwrap(), d130);
    assert_eq!(fetcher.tags(&image, true).await.unwrap().len(), 5);
    let d140 = fetcher.resolve(&image, "^1.0", true).await.unwrap();
    assert_eq!(d140, fetcher.resolve(&image, "1.4.0", false).await.unwrap());

    let e = fetcher.resolve(&image, "^3.0", false).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert!(
        e.to_string().contains("charts/demo") && e.to_string().contains("^3.0"),
        "{e}"
    );
    let e = fetcher.resolve(&image, "9.9.9", false).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert!(e.to_string().contains("tag 9.9.9"), "{e}");

    let blob = fetcher.pull(&image, &d120, Layers::Chart).await.unwrap();
    assert_eq!(
        std::fs::read(&blob.path).unwrap(),
        archive,
        "the chart helm pushed"
    );
    assert_eq!(blob.digest, sha256(&archive));
    assert_eq!(blob.media_type, HELM_CHART);

    // Stored once: a second pull does not read the registry's copy (now damaged) again.
    let served = registry.blob_file(&blob.digest);
    std::fs::write(&served, b"damaged").unwrap();
    let again = fetcher.pull(&image, &d120, Layers::Chart).await.unwrap();
    assert_eq!(std::fs::read(&again.path).unwrap(), archive);

    let metadata = fetcher.metadata(&image, &d120).await.unwrap();
    assert_eq!(metadata.version, "1.2.0");
    assert_eq!(metadata.title, "demo");

    let events = setup.events.lock();
    assert!(events.iter().all(|e| e.kind == "oci"));
    for op in ["tags", "resolve", "pull", "manifest"] {
        assert!(events.iter().any(|e| e.op == op && e.ok), "{op} reported");
    }
    assert!(
        events.iter().any(|e| e.op == "resolve" && !e.ok),
        "failures reported"
    );
    assert!(events
        .iter()
        .all(|e| e.repo == format!("{}/charts/demo", registry.host)));
}

#[tokio::test]
async fn native_artifact_metadata_media_types_and_unknown_tags() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let layer = tgz(&[
        ("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\n"),
        ("svc.yaml", "apiVersion: v1\nkind: Service\n"),
    ]);
    let (digest, layer_digest) = registry
        .push_artifact(
            "apps/guestbook",
            "v1",
            &layer,
            TGZ,
            &[
                ("org.opencontainers.image.created", "2026-11-30T00:00:00Z"),
                ("org.opencontainers.image.authors", "ops@example.com"),
                (
                    "org.opencontainers.image.source",
                    "https://example.com/guestbook",
                ),
                ("org.opencontainers.image.description", "the guestbook"),
            ],
        )
        .await;
    let setup = Setup::new();
    let fetcher = setup.fetcher();
    let repo = repo(
        &format!("{}/apps/guestbook", registry.host),
        Creds::default(),
    );
    let image = image(
        &repo,
        format!("{}/apps/guestbook", registry.host),
        &registry,
    );

    assert_eq!(fetcher.resolve(&image, "v1", false).await.unwrap(), digest);
    let blob = fetcher
        .pull(&image, &digest, Layers::Artifact)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), layer);
    assert_eq!(blob.digest, layer_digest);
    assert_eq!(blob.media_type, TGZ);

    let metadata = fetcher.metadata(&image, &digest).await.unwrap();
    assert_eq!(metadata.created, "2026-11-30T00:00:00Z");
    assert_eq!(metadata.authors, "ops@example.com");
    assert_eq!(metadata.source, "https://example.com/guestbook");
    assert_eq!(metadata.description, "the guestbook");
    assert_eq!(metadata.version, "");

    let e = fetcher
        .pull(&image, &digest, Layers::Chart)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(e.to_string().contains("Helm chart layer, got 0"), "{e}");

    let e = fetcher.resolve(&image, "v9", false).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains(&format!("{}/apps/guestbook tag v9", registry.host)),
        "{e}"
    );
    let e = fetcher
        .resolve(&image, "v1/../../x", false)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");

    // A layer media type outside --oci-layer-media-types is refused before it is downloaded.
    let strict = Setup::new();
    let mut settings = strict.settings();
    settings.oci_media_types = vec!["application/vnd.oci.image.layer.v1.tar".into()];
    let e = Fetcher::new(settings)
        .unwrap()
        .pull(&image, &digest, Layers::Artifact)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(
        e.to_string().contains(&format!(
            "layer media type {TGZ} is not in the allowed list"
        )),
        "{e}"
    );
    let hex = layer_digest.trim_start_matches("sha256:");
    assert_eq!(stored(&strict.store(), hex), Vec::<String>::new());
}

#[tokio::test]
async fn size_cap_before_and_while_downloading() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let layer = vec![7u8; 4096];
    let (digest, layer_digest) = registry
        .push_artifact("apps/big", "v1", &layer, TGZ, &[])
        .await;
    let repo = repo(&format!("{}/apps/big", registry.host), Creds::default());
    let image = image(&repo, format!("{}/apps/big", registry.host), &registry);
    let hex = layer_digest.trim_start_matches("sha256:");

    // The manifest says 4096 bytes: refused without downloading.
    let setup = Setup::new();
    let mut settings = setup.settings();
    settings.max_archive_bytes = 4095;
    let e = Fetcher::new(settings)
        .unwrap()
        .pull(&image, &digest, Layers::Artifact)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e:?}");
    assert!(e.to_string().contains("4096 bytes"), "{e}");

    // The registry sends more than the manifest says: cut off at the cap.
    let mut longer = layer.clone();
    longer.extend(vec![8u8; 100_000]);
    std::fs::write(registry.blob_file(&layer_digest), &longer).unwrap();
    let setup = Setup::new();
    let mut settings = setup.settings();
    settings.max_archive_bytes = 4096;
    let e = Fetcher::new(settings)
        .unwrap()
        .pull(&image, &digest, Layers::Artifact)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e:?}");
    assert_eq!(
        stored(&setup.store(), hex),
        Vec::<String>::new(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_layer_that_does_not_match_its_digest_is_corrupt_and_not_stored() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let layer = tgz(&[("cm.yaml", "apiVersion: v1\nkind: ConfigMap\n")]);
    let (digest, layer_digest) = registry
        .push_artifact("apps/tampered", "v1", &layer, TGZ, &[])
        .await;
    // Same length, one byte changed: only the digest tells.
    let mut tampered = layer.clone();
    *tampered.last_mut().unwrap() ^= 0xff;
    std::fs::write(registry.blob_file(&layer_digest), &tampered).unwrap();

    let setup = Setup::new();
    let fetcher = setup.fetcher();
    let repo = repo(
        &format!("{}/apps/tampered", registry.host),
        Creds::default(),
    );
    let image = image(&repo, format!("{}/apps/tampered", registry.host), &registry);
    for _ in 0..2 {
        let e = fetcher
            .pull(&image, &digest, Layers::Artifact)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
        assert!(
            e.to_string().contains("apps/tampered") && e.to_string().contains(&layer_digest),
            "{e}"
        );
    }
    let hex = layer_digest.trim_start_matches("sha256:");
    assert_eq!(
        stored(&setup.store(), hex),
        Vec::<String>::new(),
        "nothing stored"
    );
}

#[tokio::test]
async fn htpasswd_registry_checks_credentials() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Auth);
    let helm = Helm::new(&tools.helm);
    let path = helm.chart("private", "0.1.0");
    registry.push_chart(&helm, &path, "charts");
    let archive = std::fs::read(path).unwrap();
    let setup = Setup::new();
    let fetcher = setup.fetcher();
    let name = format!("{}/charts/private", registry.host);

    let good = repo(&format!("{}/charts", registry.host), basic(PASSWORD));
    let image_good = image(&good, name.clone(), &registry);
    assert_eq!(fetcher.tags(&image_good, false).await.unwrap(), ["0.1.0"]);
    let digest = fetcher.resolve(&image_good, "0.1.0", false).await.unwrap();
    let blob = fetcher
        .pull(&image_good, &digest, Layers::Chart)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), archive);
    fetcher.test(&image_good).await.unwrap();
    // The registry knows no such repository yet, and accepts the credentials: as upstream's
    // ping, that passes.
    let unknown = image(&good, format!("{}/charts/none", registry.host), &registry);
    fetcher.test(&unknown).await.unwrap();

    let wrong = repo(
        &format!("{}/charts", registry.host),
        basic("not-the-password"),
    );
    let anonymous = repo(&format!("{}/charts", registry.host), Creds::default());
    for repo in [&wrong, &anonymous] {
        let image = image(repo, name.clone(), &registry);
        // Nothing cached for the good credentials is served to these.
        for e in [
            fetcher.tags(&image, false).await.unwrap_err(),
            fetcher.resolve(&image, "0.1.0", false).await.unwrap_err(),
            fetcher
                .pull(&image, &digest, Layers::Chart)
                .await
                .unwrap_err(),
            fetcher.metadata(&image, &digest).await.unwrap_err(),
            fetcher.test(&image).await.unwrap_err(),
        ] {
            assert!(matches!(e, Error::Denied(_)), "{e:?}");
            let text = e.to_string();
            assert!(
                text.contains("charts/private") && !text.contains("not-the-password"),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn tls_registry_with_a_private_ca() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Tls);
    let helm = Helm::new(&tools.helm);
    let path = helm.chart("secure", "1.0.0");
    registry.push_chart(&helm, &path, "charts");
    let archive = std::fs::read(path).unwrap();
    let name = format!("{}/charts/secure", registry.host);
    let plain = repo(&format!("{}/charts", registry.host), Creds::default());

    // Not trusted without the CA.
    let setup = Setup::new();
    let e = setup
        .fetcher()
        .tags(&image(&plain, name.clone(), &registry), false)
        .await
        .unwrap_err();
    let tls_dir = setup.settings().tls_data_path;
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    let hint = format!(
        "argocd-tls-certs-cm (read from {})",
        tls_dir.join("127.0.0.1").display()
    );
    assert!(
        e.to_string().contains("certificate") && e.to_string().contains(&hint),
        "{e}"
    );

    // The CA in ARGOCD_TLS_DATA_PATH/<host>, as argocd-tls-certs-cm mounts it.
    std::fs::create_dir_all(&tls_dir).unwrap();
    std::fs::write(tls_dir.join("127.0.0.1"), registry.ca.as_ref().unwrap()).unwrap();
    let fetcher = setup.fetcher();
    let image_ca = image(&plain, name.clone(), &registry);
    assert_eq!(fetcher.tags(&image_ca, false).await.unwrap(), ["1.0.0"]);
    let digest = fetcher.resolve(&image_ca, "1.0.0", false).await.unwrap();
    let blob = fetcher
        .pull(&image_ca, &digest, Layers::Chart)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), archive);

    // `insecure` skips verification.
    let insecure = repo(
        &format!("{}/charts", registry.host),
        Creds {
            insecure: true,
            ..Creds::default()
        },
    );
    let other = Setup::new();
    other
        .fetcher()
        .test(&image(&insecure, name, &registry))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tls_client_certificate_is_refused_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let setup = Setup::new();
    let fetcher = setup.fetcher();
    let digest = format!("sha256:{}", "a".repeat(64));
    for (creds, field) in [
        (
            Creds {
                tls_client_cert_data: "-----BEGIN CERTIFICATE-----".into(),
                tls_client_cert_key: "-----BEGIN PRIVATE KEY-----".into(),
                ..Creds::default()
            },
            "tlsClientCertData",
        ),
        (
            Creds {
                tls_client_cert_key: "-----BEGIN PRIVATE KEY-----".into(),
                ..Creds::default()
            },
            "tlsClientCertKey",
        ),
    ] {
        let repo = repo(&format!("{host}/charts"), creds);
        for plain_http in [false, true] {
            let image = Image {
                repo: &repo,
                name: format!("{host}/charts/demo"),
                plain_http,
            };
            for e in [
                fetcher.tags(&image, true).await.unwrap_err(),
                fetcher.resolve(&image, "1.0.0", true).await.unwrap_err(),
                fetcher
                    .pull(&image, &digest, Layers::Chart)
                    .await
                    .unwrap_err(),
                fetcher.metadata(&image, &digest).await.unwrap_err(),
                fetcher.test(&image).await.unwrap_err(),
            ] {
                assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
                assert!(e.to_string().contains(field), "{e}");
            }
        }
    }
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing was sent without the certificate: {accepted:?}"
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable() {
    // A port nobody listens on (bound, then released).
    let host = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let setup = Setup::new();
    let repo = repo(&format!("{host}/charts"), Creds::default());
    let image = Image {
        repo: &repo,
        name: format!("{host}/charts/demo"),
        plain_http: true,
    };
    let e = setup.fetcher().test(&image).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    assert!(e.to_string().contains(&host), "{e}");
}

#[tokio::test]
async fn token_auth_registry() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let bundle = keys.path().join("token.pem");
    let signer = Signer::new(&bundle);
    let realm = token::serve(signer.clone(), USER, PASSWORD);
    let registry = Registry::token(&tools, &token::registry_config(&realm, &bundle));
    let helm = Helm::new(&tools.helm);
    let path = helm.chart("tokened", "0.2.0");
    registry.push_chart(&helm, &path, "charts");
    let archive = std::fs::read(path).unwrap();
    let setup = Setup::new();
    let fetcher = setup.fetcher();
    let name = format!("{}/charts/tokened", registry.host);
    let at = |creds: Creds| repo(&format!("{}/charts", registry.host), creds);

    // Username and password, exchanged for a token as the distribution spec says.
    let good = at(basic(PASSWORD));
    let image_good = image(&good, name.clone(), &registry);
    assert_eq!(fetcher.tags(&image_good, false).await.unwrap(), ["0.2.0"]);
    let digest = fetcher.resolve(&image_good, "0.2.0", false).await.unwrap();
    let blob = fetcher
        .pull(&image_good, &digest, Layers::Chart)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), archive);
    fetcher.test(&image_good).await.unwrap();
    let namespace = image(&good, format!("{}/charts", registry.host), &registry);
    fetcher.test(&namespace).await.unwrap();

    // A bearer token, sent as is.
    let bearer = |scope: &str| Creds {
        bearer_token: signer.token(USER, &[scope.to_string()]),
        ..Creds::default()
    };
    let granted = at(bearer("repository:charts/tokened:pull"));
    let image_granted = image(&granted, name.clone(), &registry);
    assert_eq!(
        fetcher.tags(&image_granted, false).await.unwrap(),
        ["0.2.0"]
    );
    fetcher.test(&image_granted).await.unwrap();
    let elsewhere = at(bearer("repository:charts/other:pull"));
    let image_elsewhere = image(&elsewhere, name.clone(), &registry);
    for e in [
        fetcher.tags(&image_elsewhere, false).await.unwrap_err(),
        fetcher.test(&image_elsewhere).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::Denied(_)), "{e:?}");
    }

    // The token server refuses a wrong password.
    let wrong = at(basic("not-the-password"));
    let image_wrong = image(&wrong, name.clone(), &registry);
    for e in [
        fetcher.tags(&image_wrong, false).await.unwrap_err(),
        fetcher
            .resolve(&image_wrong, "0.2.0", false)
            .await
            .unwrap_err(),
        fetcher
            .pull(&image_wrong, &digest, Layers::Chart)
            .await
            .unwrap_err(),
        fetcher.test(&image_wrong).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::Denied(_)), "{e:?}");
        assert!(!e.to_string().contains("not-the-password"), "{e}");
    }

    // Without credentials the token grants nothing: no tags. The registry itself answers, as
    // upstream's ping does.
    let anonymous = at(Creds::default());
    let image_anonymous = image(&anonymous, name, &registry);
    let e = fetcher.tags(&image_anonymous, false).await.unwrap_err();
    assert!(matches!(e, Error::Denied(_)), "{e:?}");
    fetcher.test(&image_anonymous).await.unwrap();
}

#[tokio::test]
async fn concurrent_pulls_of_one_layer_download_it_once() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let layer = tgz(&[("cm.yaml", "apiVersion: v1\nkind: ConfigMap\n")]);
    let (digest, layer_digest) = registry
        .push_artifact("apps/popular", "v1", &layer, TGZ, &[])
        .await;
    let setup = Setup::new();
    let fetcher = setup.fetcher();
    let repo = repo(&format!("{}/apps/popular", registry.host), Creds::default());
    let image = image(&repo, format!("{}/apps/popular", registry.host), &registry);
    let pulls = (0..8).map(|_| fetcher.pull(&image, &digest, Layers::Artifact));
    for blob in futures_util::future::join_all(pulls).await {
        assert_eq!(std::fs::read(blob.unwrap().path).unwrap(), layer);
    }
    let blob = format!("/blobs/{layer_digest}");
    assert_eq!(registry.requests("GET", &blob), 1, "{}", registry.log());
}
