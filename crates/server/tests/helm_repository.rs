//! Helm repositories end to end (issue 13), over mTLS gRPC against the real server: charts
//! made by the real helm, served over HTTPS with Basic auth and a certificate from a private
//! CA mounted as `ARGOCD_TLS_DATA_PATH/<host>`; every RPC a user drives against such a
//! repository, its refusals, and archives that try to escape or explode.

#[path = "support/charts.rs"]
mod charts;
#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::{Path, PathBuf};

use charts::{manifest, names, CHART, VERSIONS};
use repo_client::RepoServerServiceClient;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{Application, ApplicationSource, ApplicationSpec, Repository};
use repo_testkit::served::{self, Server};
use repo_testkit::{Ca, Helm, Leaf};
use repos::{client_with, objects, tool};
use sha2::{Digest, Sha256};
use tonic::transport::Channel;
use tonic::{Code, Status};

const USER: &str = "alice";
const PASSWORD: &str = "chart-pw-4242";

struct Fixture {
    _tmp: tempfile::TempDir,
    /// The served root: `charts/` (made by helm) and `unsafe/` (archives made here).
    www: PathBuf,
    server: Server,
    /// The server's repository cache (`--repo-cache-dir`, test-private).
    cache: PathBuf,
    running: repo_server::Running,
    client: RepoServerServiceClient<Channel>,
}

/// A Helm repository at `/charts` with [`CHART`] at [`VERSIONS`], over HTTPS with Basic auth,
/// and a server trusting its CA through `engine.fetch.tls_data_path`; `tune` adjusts the
/// engine. `None` (skipped) without helm.
async fn fixture(tune: impl FnOnce(&mut repo_server::config::Engine)) -> Option<Fixture> {
    if !tool("helm") {
        return None;
    }
    let [bin] = repo_testkit::tools(["helm"])?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let www = dir.join("www");
    let repo = www.join("charts");
    std::fs::create_dir_all(&repo).unwrap();
    let helm = Helm::new(&bin);
    charts::package(&helm, &dir.join("src"), &VERSIONS, &repo);
    helm.index(&repo);

    let ca = Ca::new("helm repository CA");
    let tls = served::tls(&ca.issue(&Leaf::server()), None);
    let server = Server::start(&www, Some(tls), &[served::basic(USER, PASSWORD)]);

    let mut engine = support::engine();
    engine.fetch.tls_data_path = served::trust(&ca, &dir.join("tls-certs"), &["127.0.0.1"]);
    tune(&mut engine);
    let cache = engine.repo_cache_dir.clone();
    let grpc = dir.join("grpc");
    std::fs::create_dir_all(&grpc).unwrap();
    let (running, client) = client_with(&grpc, engine).await;
    Some(Fixture {
        _tmp: tmp,
        www,
        server,
        cache,
        running,
        client,
    })
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.server.port)
    }

    fn repository(&self, path: &str, password: &str) -> Repository {
        Repository {
            repo: Some(self.url(path)),
            r#type: Some("helm".into()),
            username: Some(USER.into()),
            password: Some(password.into()),
            ..Default::default()
        }
    }

    async fn generate(
        &self,
        path: &str,
        chart: &str,
        revision: &str,
    ) -> Result<ManifestResponse, Status> {
        let request = manifest(
            self.repository(path, PASSWORD),
            source(&self.url(path), chart, revision),
        );
        self.client
            .clone()
            .generate_manifest(request)
            .await
            .map(|r| r.into_inner())
    }

    /// What is left under the server's unpacked-archive directory.
    fn unpacked(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.cache.join("unpacked"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// A chart source as the tests' app has it.
fn source(url: &str, chart: &str, revision: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: Some(url.into()),
        chart: Some(chart.into()),
        target_revision: Some(revision.into()),
        helm: Some(charts::helm()),
        ..Default::default()
    }
}

/// `status` has `code` and names each of `names`, and never the password.
fn refused(status: &Status, code: Code, names: &[&str]) {
    charts::refused(status, code, names, PASSWORD);
}

/// The one ConfigMap the chart renders: (name, namespace, data).
fn config_map(response: &ManifestResponse) -> (String, String, serde_json::Value) {
    let objects = objects(&response.manifests);
    assert_eq!(objects.len(), 1, "{objects:?}");
    let cm = &objects[0];
    (
        cm["metadata"]["name"].as_str().unwrap().to_string(),
        cm["metadata"]["namespace"].as_str().unwrap().to_string(),
        cm["data"].clone(),
    )
}

#[tokio::test]
async fn charts_render_resolve_and_describe_over_https_with_basic_auth() {
    let Some(f) = fixture(|_| {}).await else {
        return;
    };
    // An exact version.
    let exact = f.generate("charts", CHART, "1.0.0").await.unwrap();
    assert_eq!(exact.revision, "1.0.0");
    let (name, namespace, data) = config_map(&exact);
    assert_eq!(name, "guestbook-app-config");
    assert_eq!(namespace, "prod");
    assert_eq!(data["greeting"], "hi from params");
    assert_eq!(data["chart"], "guestbook-1.0.0");

    // The same repository written with a trailing slash.
    let slashed = f.generate("charts/", CHART, "1.0.0").await.unwrap();
    assert_eq!(slashed.manifests, exact.manifests);

    // A constraint: the highest match, and the revision says which.
    let picked = f.generate("charts", CHART, ">=1.0.0 <2.0.0").await.unwrap();
    assert_eq!(picked.revision, "1.2.0");
    assert_eq!(config_map(&picked).2["chart"], "guestbook-1.2.0");

    let mut c = f.client.clone();
    let details = c
        .get_app_details(RepoServerAppDetailsQuery {
            repo: Some(f.repository("charts", PASSWORD)),
            source: Some(source(&f.url("charts"), CHART, "1.2.0")),
            app_name: "guestbook-app".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.r#type, "Helm");
    let helm = details.helm.unwrap();
    assert!(helm.values.contains("greeting: hello"), "{}", helm.values);
    let greeting = helm
        .parameters
        .iter()
        .find(|p| p.name() == "greeting")
        .expect("the chart's values as parameters");
    // The chart's values, as upstream lists them (the source's parameters are the UI's).
    assert_eq!(greeting.value(), "hello");

    let app = Application {
        spec: Some(ApplicationSpec {
            source: Some(source(&f.url("charts"), CHART, "^1.0.0")),
            ..Default::default()
        }),
        ..Default::default()
    };
    let resolved = c
        .resolve_revision(ResolveRevisionRequest {
            repo: Some(f.repository("charts", PASSWORD)),
            app: Some(app),
            ambiguous_revision: "^1.0.0".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.revision, "1.2.0");
    assert_eq!(resolved.ambiguous_revision, "^1.0.0 (1.2.0)");

    let tested = c
        .test_repository(TestRepositoryRequest {
            repo: Some(f.repository("charts", PASSWORD)),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tested.verified_repository);

    let listed = c
        .get_helm_charts(HelmChartsRequest {
            repo: Some(f.repository("charts", PASSWORD)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.items.len(), 1, "{listed:?}");
    assert_eq!(listed.items[0].name, CHART);
    let mut versions = listed.items[0].versions.clone();
    versions.sort();
    assert_eq!(versions, VERSIONS);

    let chart = c
        .get_revision_chart_details(RepoServerRevisionChartDetailsRequest {
            repo: Some(f.repository("charts", PASSWORD)),
            name: CHART.into(),
            revision: "1.2.0".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(chart.description(), charts::DESCRIPTION);
    assert_eq!(chart.home(), charts::HOME);
    assert_eq!(chart.maintainers.len(), 1, "{chart:?}");
    assert!(chart.maintainers[0].contains("Alice"), "{chart:?}");

    // The audit line names the chart and version; no log line shows the password.
    let logs = support::logs().text();
    assert!(
        logs.lines().any(|l| l.contains("GenerateManifest")
            && l.contains(&format!("repo={}", f.url("charts")))
            && l.contains("chart=guestbook")
            && l.contains("revision=1.0.0")),
        "{logs}"
    );
    assert!(!logs.contains(PASSWORD), "a log shows the password");
    let series = format!("argocd_helm_request_total{{repo=\"{}\"", f.url("charts"));
    let (_, metrics) = support::get(f.running.http, "/metrics").await;
    assert!(
        metrics.lines().any(|l| l.starts_with(&series)),
        "no {series} in\n{metrics}"
    );
}

#[tokio::test]
async fn update_revision_for_paths_answers_without_asking_the_repository() {
    let Some(f) = fixture(|_| {}).await else {
        return;
    };
    let before = f.server.all().len();
    let answer = f
        .client
        .clone()
        .update_revision_for_paths(UpdateRevisionForPathsRequest {
            repo: Some(f.repository("charts", PASSWORD)),
            app_name: "guestbook-app".into(),
            namespace: "prod".into(),
            application_source: Some(source(&f.url("charts"), CHART, "1.2.0")),
            synced_revision: "1.0.0".into(),
            revision: "1.2.0".into(),
            paths: vec!["/".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer, UpdateRevisionForPathsResponse::default());
    assert_eq!(f.server.all().len(), before, "{:?}", f.server.all());
    assert_eq!(before, 0, "nothing asked the repository before either");
}

#[tokio::test]
async fn missing_charts_versions_and_wrong_credentials_are_named() {
    let Some(f) = fixture(|_| {}).await else {
        return;
    };
    let url = f.url("charts");
    let err = f.generate("charts", "nochart", "1.0.0").await.unwrap_err();
    refused(&err, Code::NotFound, &[&url, "nochart"]);

    let err = f.generate("charts", CHART, "9.9.9").await.unwrap_err();
    refused(&err, Code::NotFound, &[&url, CHART, "9.9.9"]);

    let err = f.generate("charts", CHART, ">=3.0.0").await.unwrap_err();
    refused(&err, Code::NotFound, &[&url, CHART, ">=3.0.0"]);

    let err = f
        .client
        .clone()
        .get_revision_chart_details(RepoServerRevisionChartDetailsRequest {
            repo: Some(f.repository("charts", PASSWORD)),
            name: CHART.into(),
            revision: "9.9.9".into(),
        })
        .await
        .unwrap_err();
    refused(&err, Code::NotFound, &[&url, CHART, "9.9.9"]);

    // A chart name that climbs out of the repository is refused before any request.
    let before = f.server.all().len();
    let err = f
        .generate("charts", "../../etc", "1.0.0")
        .await
        .unwrap_err();
    refused(&err, Code::InvalidArgument, &["../../etc"]);
    assert_eq!(f.server.all().len(), before, "{:?}", f.server.all());

    let mut c = f.client.clone();
    let wrong = f.repository("charts", "not-the-password");
    let err = c
        .generate_manifest(manifest(wrong.clone(), source(&url, CHART, "1.0.0")))
        .await
        .unwrap_err();
    refused(&err, Code::FailedPrecondition, &[&url]);
    assert!(!err.message().contains("not-the-password"), "{err:?}");

    let err = c
        .test_repository(TestRepositoryRequest { repo: Some(wrong) })
        .await
        .unwrap_err();
    refused(&err, Code::FailedPrecondition, &[&url]);
    assert!(!err.message().contains("not-the-password"), "{err:?}");
    // Each refusal reached the server with the credentials given, not some other ones.
    let wrong_auth = served::basic(USER, "not-the-password");
    assert!(f
        .server
        .hits("/charts/index.yaml")
        .iter()
        .any(|h| h.authorization.as_deref() == Some(wrong_auth.as_str())));
}

#[tokio::test]
async fn an_index_over_the_cap_is_refused() {
    let Some(f) = fixture(|e| e.fetch.max_index_bytes = 200).await else {
        return;
    };
    let index = std::fs::metadata(f.www.join("charts/index.yaml"))
        .unwrap()
        .len();
    assert!(index > 200, "the index ({index} bytes) is over the cap");
    let err = f.generate("charts", CHART, "1.0.0").await.unwrap_err();
    refused(
        &err,
        Code::ResourceExhausted,
        &[&f.url("charts"), "--helm-registry-max-index-size"],
    );
}

/// One entry of a hand-made chart archive.
enum Entry {
    File(String, Vec<u8>),
    Link(String, String),
}

fn file(name: &str, body: &[u8]) -> Entry {
    Entry::File(name.into(), body.to_vec())
}

fn link(name: &str, target: &str) -> Entry {
    Entry::Link(name.into(), target.into())
}

/// A gzipped tar of `entries`, names written raw (a `../` name is kept as is).
fn archive(entries: &[Entry]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let name = match entry {
            Entry::File(name, body) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(body.len() as u64);
                name
            }
            Entry::Link(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_link_name(target).unwrap();
                name
            }
        };
        header.set_mode(0o644);
        let slot = &mut header.as_gnu_mut().unwrap().name;
        slot[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        let body: &[u8] = match entry {
            Entry::File(_, body) => body,
            Entry::Link(..) => &[],
        };
        tar.append(&header, body).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A chart `name` 0.1.0 rendering one ConfigMap, plus `extra` entries.
fn chart_archive(name: &str, extra: Vec<Entry>) -> Vec<u8> {
    let mut entries = vec![
        file(
            &format!("{name}/Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n").as_bytes(),
        ),
        file(
            &format!("{name}/templates/cm.yaml"),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
        ),
    ];
    entries.extend(extra);
    archive(&entries)
}

/// Writes `archives` (chart name, tgz) into `dir` with an index.yaml naming them.
fn index(dir: &Path, archives: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut yaml = String::from("apiVersion: v1\nentries:\n");
    for (name, tgz) in archives {
        let file = format!("{name}-0.1.0.tgz");
        std::fs::write(dir.join(&file), tgz).unwrap();
        yaml += &format!(
            "  {name}:\n  - apiVersion: v2\n    name: {name}\n    version: 0.1.0\n    \
             digest: {}\n    urls:\n    - {file}\n",
            hex::encode(Sha256::digest(tgz))
        );
    }
    std::fs::write(dir.join("index.yaml"), yaml).unwrap();
}

#[tokio::test]
async fn an_archive_unpacking_past_the_cap_is_refused_and_leaves_nothing() {
    let cap = 64 * 1024;
    let Some(f) = fixture(|e| e.fetch.helm_max_extracted_bytes = Some(cap)).await else {
        return;
    };
    // 4 MiB of zeros: a few KiB packed.
    let bomb = chart_archive("bomb", vec![file("bomb/files/zeros", &vec![0; 4 << 20])]);
    assert!(
        (bomb.len() as u64) < cap,
        "the archive itself is under the cap"
    );
    index(&f.www.join("unsafe"), &[("bomb", bomb)]);

    let err = f.generate("unsafe", "bomb", "0.1.0").await.unwrap_err();
    refused(
        &err,
        Code::ResourceExhausted,
        &["bomb", "0.1.0", &f.url("unsafe")],
    );
    assert_eq!(f.unpacked(), Vec::<String>::new(), "nothing half-written");

    // The cap is per archive: a chart under it still renders on the same server.
    let fine = f.generate("charts", CHART, "1.0.0").await.unwrap();
    assert_eq!(config_map(&fine).0, "guestbook-app-config");
    assert_eq!(f.unpacked().len(), 1, "{:?}", f.unpacked());
}

#[tokio::test]
async fn archive_entries_and_links_stay_inside_the_chart() {
    let Some(f) = fixture(|_| {}).await else {
        return;
    };
    let escape = chart_archive(
        "escape",
        vec![file("escape/../../evil.yaml", b"kind: Secret\n")],
    );
    // In bounds: a template that is a link to another file of the chart.
    let linked = chart_archive(
        "linked",
        vec![
            file(
                "linked/shared/extra.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: linked-extra\n",
            ),
            link("linked/templates/extra.yaml", "../shared/extra.yaml"),
        ],
    );
    let outside = chart_archive(
        "outside",
        vec![link(
            "outside/templates/passwd.yaml",
            "../../../../etc/passwd",
        )],
    );
    index(
        &f.www.join("unsafe"),
        &[("escape", escape), ("linked", linked), ("outside", outside)],
    );

    let err = f.generate("unsafe", "escape", "0.1.0").await.unwrap_err();
    refused(
        &err,
        Code::InvalidArgument,
        &["escape", "evil.yaml", "outside"],
    );
    assert!(!f.www.join("evil.yaml").exists());
    assert!(!f.cache.join("evil.yaml").exists());

    let rendered = f.generate("unsafe", "linked", "0.1.0").await.unwrap();
    assert_eq!(
        names(&rendered.manifests),
        ["guestbook-app", "linked-extra"]
    );

    let err = f.generate("unsafe", "outside", "0.1.0").await.unwrap_err();
    refused(&err, Code::InvalidArgument, &["outside", "passwd.yaml"]);

    let left = f.unpacked();
    assert_eq!(left.len(), 1, "only the chart that unpacked: {left:?}");
    assert!(left.iter().all(|n| !n.starts_with('.')), "{left:?}");
}

#[tokio::test]
async fn concurrent_renders_of_a_new_version_download_it_once() {
    let Some(f) = fixture(|_| {}).await else {
        return;
    };
    let f = std::sync::Arc::new(f);
    let renders: Vec<_> = (0..8)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                let mut request = manifest(
                    f.repository("charts", PASSWORD),
                    source(&f.url("charts"), CHART, "2.0.0"),
                );
                // Different apps: no manifest cache entry answers for another.
                request.app_name = format!("app-{i}");
                f.client.clone().generate_manifest(request).await.unwrap()
            })
        })
        .collect();
    for render in renders {
        let rendered = render.await.unwrap().into_inner();
        assert_eq!(rendered.revision, "2.0.0");
    }
    assert_eq!(f.server.hits("/charts/guestbook-2.0.0.tgz").len(), 1);
    assert_eq!(f.unpacked().len(), 1, "{:?}", f.unpacked());
}

#[tokio::test]
async fn the_server_certificate_is_trusted_through_the_mounted_ca_or_insecure() {
    let Some(f) = fixture(|e| e.fetch.tls_data_path = "/nonexistent/tls-certs".into()).await else {
        return;
    };
    let mut c = f.client.clone();
    let err = c
        .test_repository(TestRepositoryRequest {
            repo: Some(f.repository("charts", PASSWORD)),
        })
        .await
        .unwrap_err();
    refused(
        &err,
        Code::Unavailable,
        &[&f.url("charts"), "/nonexistent/tls-certs/127.0.0.1"],
    );
    assert!(
        f.server.all().is_empty(),
        "no request went past the handshake"
    );

    let insecure = Repository {
        insecure: Some(true),
        ..f.repository("charts", PASSWORD)
    };
    let tested = c
        .test_repository(TestRepositoryRequest {
            repo: Some(insecure.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tested.verified_repository);
    let rendered = c
        .generate_manifest(manifest(insecure, source(&f.url("charts"), CHART, "1.0.0")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(config_map(&rendered).0, "guestbook-app-config");
}

#[tokio::test]
async fn a_new_version_is_seen_on_a_hard_refresh_and_by_resolve_revision() {
    let Some(f) = fixture(|_| {}).await else {
        return;
    };
    let [bin] = repo_testkit::tools(["helm"]).unwrap();
    let first = f.generate("charts", CHART, "^1.0.0").await.unwrap();
    assert_eq!(first.revision, "1.2.0");

    // 1.5.0 is published: the index changes on the server.
    let helm = Helm::new(&bin);
    let work = tempfile::tempdir().unwrap();
    let repo = f.www.join("charts");
    charts::package(&helm, work.path(), &["1.5.0"], &repo);
    helm.index(&repo);

    // Within the index's TTL a render reads the cached index...
    let cached = f.generate("charts", CHART, "^1.0.0").await.unwrap();
    assert_eq!(cached.revision, "1.2.0");
    // ...ResolveRevision always reads it anew...
    let app = Application {
        spec: Some(ApplicationSpec {
            source: Some(source(&f.url("charts"), CHART, "^1.0.0")),
            ..Default::default()
        }),
        ..Default::default()
    };
    let resolved = f
        .client
        .clone()
        .resolve_revision(ResolveRevisionRequest {
            repo: Some(f.repository("charts", PASSWORD)),
            app: Some(app),
            ambiguous_revision: "^1.0.0".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.revision, "1.5.0");
    // ...and so does a hard refresh.
    let mut request = manifest(
        f.repository("charts", PASSWORD),
        source(&f.url("charts"), CHART, "^1.0.0"),
    );
    request.no_cache = true;
    let refreshed = f.client.clone().generate_manifest(request).await.unwrap();
    let refreshed = refreshed.into_inner();
    assert_eq!(refreshed.revision, "1.5.0");
    assert_eq!(config_map(&refreshed).2["chart"], "guestbook-1.5.0");
}
