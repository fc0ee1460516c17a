//! OCI registries end to end (issue 13), over mTLS gRPC against the real server and a real
//! registry (CNCF distribution, Debian's `docker-registry`) on 127.0.0.1: Helm charts pushed
//! with `helm push`, native artifacts pushed with oci-client; and one chart rendered from git,
//! a Helm repository and a registry alike.

#[path = "support/charts.rs"]
mod charts;
#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::{Path, PathBuf};

use charts::{manifest, names, refused, CHART, VERSIONS};
use repo_client::RepoServerServiceClient;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{Application, ApplicationSource, ApplicationSpec, Repository};
use repo_testkit::registry::{self, Mode, Registry, Tools, PASSWORD, TGZ, USER};
use repo_testkit::served::Server;
use repo_testkit::Helm;
use repos::{client_with, objects, tool};
use tonic::transport::Channel;
use tonic::Code;

/// The registry tools and helm for the server, or `None` (skipped) without them.
fn tools() -> Option<Tools> {
    if !tool("helm") {
        return None;
    }
    Tools::find()
}

struct Instance {
    running: repo_server::Running,
    /// The server's repository cache (`--repo-cache-dir`, test-private).
    cache: PathBuf,
    client: RepoServerServiceClient<Channel>,
    _dir: tempfile::TempDir,
}

async fn server(tune: impl FnOnce(&mut repo_server::config::Engine)) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = support::engine();
    tune(&mut engine);
    let cache = engine.repo_cache_dir.clone();
    let (running, client) = client_with(dir.path(), engine).await;
    Instance {
        running,
        cache,
        client,
        _dir: dir,
    }
}

/// The chart at [`VERSIONS`] pushed to `<registry>/charts/guestbook`.
fn push_charts(tools: &Tools, registry: &Registry, work: &Path) {
    let helm = Helm::new(&tools.helm);
    let out = work.join("packages");
    for archive in charts::package(&helm, &work.join("src"), &VERSIONS, &out) {
        registry.push_chart(&helm, &archive, "charts");
    }
}

/// A Helm-OCI repository as the UI saves it: no scheme, `enableOCI`, plain HTTP forced.
fn helm_oci(url: &str) -> Repository {
    Repository {
        repo: Some(url.into()),
        r#type: Some("helm".into()),
        enable_oci: Some(true),
        insecure_oci_force_http: Some(true),
        ..Default::default()
    }
}

/// A native OCI repository (`oci://…`, type `oci`), plain HTTP forced.
fn native(url: &str, creds: Option<&str>) -> Repository {
    Repository {
        repo: Some(url.into()),
        r#type: Some("oci".into()),
        insecure_oci_force_http: Some(true),
        username: creds.map(|_| USER.into()),
        password: creds.map(str::to_string),
        ..Default::default()
    }
}

fn chart_source(url: &str, revision: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: Some(url.into()),
        chart: Some(CHART.into()),
        target_revision: Some(revision.into()),
        helm: Some(charts::helm()),
        ..Default::default()
    }
}

fn artifact_source(url: &str, revision: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: Some(url.into()),
        path: Some(".".into()),
        target_revision: Some(revision.into()),
        ..Default::default()
    }
}

fn resolve_request(repo: Repository, source: ApplicationSource) -> ResolveRevisionRequest {
    ResolveRevisionRequest {
        repo: Some(repo),
        ambiguous_revision: source.target_revision().to_string(),
        app: Some(Application {
            spec: Some(ApplicationSpec {
                source: Some(source),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The files under `dir`, recursively, relative to it; sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    found.sort();
    found
}

/// Every request the registry logged.
fn registry_requests(registry: &Registry) -> usize {
    ["GET", "HEAD", "POST", "PUT", "PATCH"]
        .iter()
        .map(|m| registry.requests(m, ""))
        .sum()
}

/// The sum of `family`'s series whose labels mention `needle`.
async fn counted(http: std::net::SocketAddr, family: &str, needle: &str) -> u64 {
    let (_, body) = support::get(http, "/metrics").await;
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(needle))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn a_helm_chart_from_a_registry_renders_by_constraint() {
    let Some(tools) = tools() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(&tools, Mode::Plain);
    push_charts(&tools, &registry, work.path());
    let s = server(|_| {}).await;
    let mut c = s.client.clone();
    let url = format!("{}/charts", registry.host);

    let rendered = c
        .generate_manifest(manifest(
            helm_oci(&url),
            chart_source(&url, ">=1.0.0 <2.0.0"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rendered.revision, "1.2.0");
    let objects = objects(&rendered.manifests);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0]["metadata"]["name"], "guestbook-app-config");
    assert_eq!(objects[0]["metadata"]["namespace"], "prod");
    assert_eq!(objects[0]["data"]["chart"], "guestbook-1.2.0");
    assert_eq!(objects[0]["data"]["greeting"], "hi from params");

    let resolved = c
        .resolve_revision(resolve_request(
            helm_oci(&url),
            chart_source(&url, "^1.0.0"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.revision, "1.2.0");
    assert_eq!(resolved.ambiguous_revision, "^1.0.0 (1.2.0)");

    let tested = c
        .test_repository(TestRepositoryRequest {
            repo: Some(helm_oci(&url)),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tested.verified_repository);

    let chart = c
        .get_revision_chart_details(RepoServerRevisionChartDetailsRequest {
            repo: Some(helm_oci(&url)),
            name: CHART.into(),
            revision: "1.2.0".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(chart.description(), charts::DESCRIPTION);
    assert_eq!(chart.home(), charts::HOME);

    let details = c
        .get_app_details(RepoServerAppDetailsQuery {
            repo: Some(helm_oci(&url)),
            source: Some(chart_source(&url, "1.0.0")),
            app_name: "guestbook-app".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let values = details.helm.unwrap().values;
    assert!(values.contains("greeting: hello"), "{values}");

    let err = c
        .generate_manifest(manifest(helm_oci(&url), chart_source(&url, ">=3.0.0")))
        .await
        .unwrap_err();
    refused(&err, Code::NotFound, &[&url, CHART, ">=3.0.0"], PASSWORD);
}

#[tokio::test]
async fn a_native_artifact_renders_by_tag_and_digest_and_is_described() {
    let Some(tools) = tools() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-oci\n";
    let svc =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n";
    let annotations = [
        ("org.opencontainers.image.created", "2026-11-30T00:00:00Z"),
        (
            "org.opencontainers.image.authors",
            "Alice <alice@example.com>",
        ),
        (
            "org.opencontainers.image.source",
            "https://example.com/guestbook.git",
        ),
        (
            "org.opencontainers.image.documentation",
            "https://example.com/docs",
        ),
        ("org.opencontainers.image.version", "1.0.0"),
        (
            "org.opencontainers.image.description",
            "guestbook manifests",
        ),
    ];
    let (v1, _) = registry
        .push_artifact(
            "apps/guestbook",
            "v1",
            &registry::tgz(&[("cm.yaml", cm), ("svc.yaml", svc)]),
            TGZ,
            &annotations,
        )
        .await;
    let (v2, _) = registry
        .push_artifact(
            "apps/guestbook",
            "v2",
            &registry::tgz(&[("cm.yaml", cm)]),
            TGZ,
            &[],
        )
        .await;
    assert_ne!(v1, v2);
    let s = server(|_| {}).await;
    let mut c = s.client.clone();
    let url = format!("oci://{}/apps/guestbook", registry.host);
    let repo = native(&url, None);

    let by_tag = c
        .generate_manifest(manifest(repo.clone(), artifact_source(&url, "v1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_tag.revision, v1);
    assert_eq!(names(&by_tag.manifests), ["from-oci", "web"]);
    let by_digest = c
        .generate_manifest(manifest(repo.clone(), artifact_source(&url, &v1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_digest.revision, v1);
    assert_eq!(by_digest.manifests, by_tag.manifests);
    let other = c
        .generate_manifest(manifest(repo.clone(), artifact_source(&url, "v2")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&other.manifests), ["from-oci"]);

    let mut tags = c
        .list_oci_tags(ListRefsRequest {
            repo: Some(repo.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .tags;
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);

    let metadata = c
        .get_oci_metadata(RepoServerRevisionChartDetailsRequest {
            repo: Some(repo.clone()),
            name: String::new(),
            revision: v1.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(metadata.created_at(), "2026-11-30T00:00:00Z");
    assert_eq!(metadata.authors(), "Alice <alice@example.com>");
    assert_eq!(metadata.source_url(), "https://example.com/guestbook.git");
    assert_eq!(metadata.docs_url(), "https://example.com/docs");
    assert_eq!(metadata.version(), "1.0.0");
    assert_eq!(metadata.description(), "guestbook manifests");

    let resolved = c
        .resolve_revision(resolve_request(repo.clone(), artifact_source(&url, "v1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.revision, v1);
    assert!(v1.starts_with("sha256:") && v1.len() == 71, "{v1}");
    assert_eq!(resolved.ambiguous_revision, format!("v1 ({v1})"));

    let tested = c
        .test_repository(TestRepositoryRequest {
            repo: Some(repo.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tested.verified_repository);

    let details = c
        .get_app_details(RepoServerAppDetailsQuery {
            repo: Some(repo.clone()),
            source: Some(artifact_source(&url, "v1")),
            app_name: "guestbook-app".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.r#type, "Directory");

    let err = c
        .generate_manifest(manifest(repo.clone(), artifact_source(&url, "v9")))
        .await
        .unwrap_err();
    refused(&err, Code::NotFound, &[&registry.host, "v9"], PASSWORD);
    let failed = counted(
        s.running.http,
        "argocd_oci_resolve_revision_fail_total",
        &registry.host,
    )
    .await;
    assert_eq!(failed, 1, "the unknown tag counted once");

    let requests = counted(s.running.http, "argocd_oci_request_total", &registry.host).await;
    assert!(
        requests > 0,
        "argocd_oci_request_total counts the registry's requests"
    );
}

#[tokio::test]
async fn wrong_registry_credentials_are_refused_by_name() {
    let Some(tools) = tools() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Auth);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: private\n";
    registry
        .push_artifact(
            "apps/private",
            "v1",
            &registry::tgz(&[("cm.yaml", cm)]),
            TGZ,
            &[],
        )
        .await;
    let s = server(|_| {}).await;
    let mut c = s.client.clone();
    let url = format!("oci://{}/apps/private", registry.host);
    let wrong = "not-wonderland";

    let err = c
        .generate_manifest(manifest(
            native(&url, Some(wrong)),
            artifact_source(&url, "v1"),
        ))
        .await
        .unwrap_err();
    refused(&err, Code::FailedPrecondition, &[&registry.host], wrong);
    let err = c
        .test_repository(TestRepositoryRequest {
            repo: Some(native(&url, Some(wrong))),
        })
        .await
        .unwrap_err();
    refused(&err, Code::FailedPrecondition, &[&registry.host], wrong);

    // A chart pushed by a logged-in helm, read through a Helm-OCI repository with its creds.
    let work = tempfile::tempdir().unwrap();
    push_charts(&tools, &registry, work.path());
    let charts_url = format!("{}/charts", registry.host);
    let with = |password: &str| Repository {
        username: Some(USER.into()),
        password: Some(password.into()),
        ..helm_oci(&charts_url)
    };
    let chart = c
        .generate_manifest(manifest(
            with(PASSWORD),
            chart_source(&charts_url, "^1.0.0"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(chart.revision, "1.2.0");
    let err = c
        .generate_manifest(manifest(with(wrong), chart_source(&charts_url, "^1.0.0")))
        .await
        .unwrap_err();
    refused(&err, Code::FailedPrecondition, &[&charts_url], wrong);

    let rendered = c
        .generate_manifest(manifest(
            native(&url, Some(PASSWORD)),
            artifact_source(&url, "v1"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&rendered.manifests), ["private"]);

    let logs = support::logs().text();
    assert!(
        !logs.contains(PASSWORD) && !logs.contains(wrong),
        "a log shows a password"
    );
}

#[tokio::test]
async fn a_layer_media_type_not_allowed_is_refused_by_name() {
    let Some(tools) = tools() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let odd = "application/vnd.example.manifests.v1.tar+gzip";
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\n";
    registry
        .push_artifact(
            "apps/odd",
            "v1",
            &registry::tgz(&[("cm.yaml", cm)]),
            odd,
            &[],
        )
        .await;
    let url = format!("oci://{}/apps/odd", registry.host);

    let s = server(|_| {}).await;
    let err = s
        .client
        .clone()
        .generate_manifest(manifest(native(&url, None), artifact_source(&url, "v1")))
        .await
        .unwrap_err();
    refused(
        &err,
        Code::InvalidArgument,
        &[odd, &registry.host, "--oci-layer-media-types"],
        PASSWORD,
    );

    // The operator allows it: the same artifact renders.
    let allowed = server(|e| e.fetch.oci_media_types.push(odd.into())).await;
    let rendered = allowed
        .client
        .clone()
        .generate_manifest(manifest(native(&url, None), artifact_source(&url, "v1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&rendered.manifests), ["odd"]);
}

#[tokio::test]
async fn one_chart_renders_alike_from_git_a_helm_repository_and_a_registry() {
    let Some(tools) = tools() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();

    let files = charts::files("1.2.0");
    let in_git: Vec<(String, &str)> = files
        .iter()
        .map(|(name, text)| (format!("charts/{name}"), text.as_str()))
        .collect();
    let in_git: Vec<(&str, &str)> = in_git.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let (_, git_url) = repos::repository(dir, "git", &in_git);

    let helm = Helm::new(&tools.helm);
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("charts")).unwrap();
    charts::package(&helm, &dir.join("src"), &["1.2.0"], &www.join("charts"));
    helm.index(&www.join("charts"));
    let served = Server::start(&www, None, &[]);
    let helm_url = format!("http://127.0.0.1:{}/charts", served.port);

    let registry = Registry::start(&tools, Mode::Plain);
    push_charts(&tools, &registry, &dir.join("oci"));
    let oci_url = format!("{}/charts", registry.host);

    let s = server(|_| {}).await;
    let mut c = s.client.clone();
    let from_git = ApplicationSource {
        repo_url: Some(git_url.clone()),
        path: Some(format!("charts/{CHART}")),
        target_revision: Some("main".into()),
        helm: Some(charts::helm()),
        ..Default::default()
    };
    let git_repo = Repository {
        repo: Some(git_url),
        r#type: Some("git".into()),
        ..Default::default()
    };
    let helm_repo = Repository {
        repo: Some(helm_url.clone()),
        r#type: Some("helm".into()),
        ..Default::default()
    };
    let mut rendered = Vec::new();
    for (repo, source) in [
        (git_repo, from_git),
        (helm_repo, chart_source(&helm_url, "1.2.0")),
        (helm_oci(&oci_url), chart_source(&oci_url, "1.2.0")),
    ] {
        let response = c.generate_manifest(manifest(repo, source)).await.unwrap();
        let mut manifests = response.into_inner().manifests;
        manifests.sort();
        rendered.push(manifests);
    }
    assert_eq!(names(&rendered[0]), ["guestbook-app-config"]);
    assert_eq!(
        objects(&rendered[0])[0]["data"]["greeting"],
        "hi from params"
    );
    assert_eq!(rendered[1], rendered[0], "Helm repository as git");
    assert_eq!(rendered[2], rendered[0], "registry as git");
}

#[tokio::test]
async fn a_layer_not_matching_its_digest_is_refused_and_nothing_is_kept() {
    let Some(tools) = tools() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tampered\n";
    let layer = registry::tgz(&[("cm.yaml", cm)]);
    let (digest, layer_digest) = registry
        .push_artifact("apps/tampered", "v1", &layer, TGZ, &[])
        .await;
    // The registry now serves other bytes (same length) under the layer's digest.
    let mut tampered = layer.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(registry.blob_file(&layer_digest), &tampered).unwrap();

    let s = server(|_| {}).await;
    let url = format!("oci://{}/apps/tampered", registry.host);
    let err = s
        .client
        .clone()
        .generate_manifest(manifest(native(&url, None), artifact_source(&url, "v1")))
        .await
        .unwrap_err();
    refused(
        &err,
        Code::DataLoss,
        &[&registry.host, &layer_digest],
        PASSWORD,
    );
    let kept: Vec<String> = files(&s.cache)
        .into_iter()
        .filter(|f| {
            let hex = layer_digest.trim_start_matches("sha256:");
            f.contains(hex)
                || f.contains(digest.trim_start_matches("sha256:"))
                || f.contains("tmp/")
        })
        .collect();
    assert_eq!(kept, Vec::<String>::new(), "nothing of the layer is kept");
    assert_eq!(files(&s.cache.join("unpacked")), Vec::<String>::new());
}

#[tokio::test]
async fn a_tls_registry_is_trusted_through_the_tls_data_path() {
    let Some(tools) = tools() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(&tools, Mode::Tls);
    push_charts(&tools, &registry, work.path());
    let url = format!("{}/charts", registry.host);
    let repo = Repository {
        insecure_oci_force_http: Some(false),
        ..helm_oci(&url)
    };
    let request = || manifest(repo.clone(), chart_source(&url, "1.2.0"));

    // Without the CA mounted: refused, naming where to put it.
    let untrusting = server(|e| e.fetch.tls_data_path = work.path().join("no-certs")).await;
    let err = untrusting
        .client
        .clone()
        .generate_manifest(request())
        .await
        .unwrap_err();
    assert!(err.message().contains(&registry.host), "{err:?}");
    assert!(err.message().contains("no-certs/127.0.0.1"), "{err:?}");

    let certs = work.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("127.0.0.1"), registry.ca.as_ref().unwrap()).unwrap();
    let trusting = server(|e| e.fetch.tls_data_path = certs).await;
    let rendered = trusting
        .client
        .clone()
        .generate_manifest(request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rendered.revision, "1.2.0");
    assert_eq!(names(&rendered.manifests), ["guestbook-app-config"]);
}

#[tokio::test]
async fn update_revision_for_paths_asks_no_registry() {
    let Some(tools) = tools() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: quiet\n";
    registry
        .push_artifact(
            "apps/quiet",
            "v1",
            &registry::tgz(&[("cm.yaml", cm)]),
            TGZ,
            &[],
        )
        .await;
    let url = format!("oci://{}/apps/quiet", registry.host);
    let s = server(|_| {}).await;
    let before = registry_requests(&registry);
    assert!(before > 0, "the access log shows the pushes");
    let answer = s
        .client
        .clone()
        .update_revision_for_paths(UpdateRevisionForPathsRequest {
            repo: Some(native(&url, None)),
            app_name: "guestbook-app".into(),
            namespace: "prod".into(),
            application_source: Some(artifact_source(&url, "v1")),
            synced_revision: "v0".into(),
            revision: "v1".into(),
            paths: vec!["/".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer, UpdateRevisionForPathsResponse::default());
    assert_eq!(registry_requests(&registry), before, "{}", registry.log());
}

#[tokio::test]
async fn a_chart_version_with_build_metadata_is_found_through_its_tag() {
    let Some(tools) = tools() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(&tools, Mode::Plain);
    push_charts(&tools, &registry, work.path());
    // Helm pushes `1.3.0+build.1` as tag `1.3.0_build.1`.
    let helm = Helm::new(&tools.helm);
    let out = work.path().join("build");
    for archive in charts::package(&helm, &out, &["1.3.0+build.1"], &out) {
        registry.push_chart(&helm, &archive, "charts");
    }
    let s = server(|_| {}).await;
    let url = format!("{}/charts", registry.host);
    for revision in [">=1.3.0 <2.0.0", "1.3.0+build.1"] {
        let rendered = s
            .client
            .clone()
            .generate_manifest(manifest(helm_oci(&url), chart_source(&url, revision)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rendered.revision, "1.3.0+build.1", "{revision}");
        let objects = objects(&rendered.manifests);
        assert_eq!(objects[0]["data"]["chart"], "guestbook-1.3.0+build.1");
    }
}

#[tokio::test]
async fn a_helm_chart_as_a_native_oci_source_renders_from_its_root() {
    let Some(tools) = tools() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start(&tools, Mode::Plain);
    push_charts(&tools, &registry, work.path());
    let s = server(|_| {}).await;
    // Argo CD 3.1+: `repoURL: oci://<registry>/charts/guestbook`, `path: .`; upstream moves
    // the chart's directory to the root of what it unpacks.
    let url = format!("oci://{}/charts/{CHART}", registry.host);
    let source = ApplicationSource {
        helm: Some(charts::helm()),
        ..artifact_source(&url, "1.2.0")
    };
    let rendered = s
        .client
        .clone()
        .generate_manifest(manifest(native(&url, None), source))
        .await
        .unwrap()
        .into_inner();
    assert!(
        rendered.revision.starts_with("sha256:"),
        "{}",
        rendered.revision
    );
    let objects = objects(&rendered.manifests);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0]["metadata"]["name"], "guestbook-app-config");
    assert_eq!(objects[0]["data"]["chart"], "guestbook-1.2.0");
    assert_eq!(objects[0]["data"]["greeting"], "hi from params");

    // A Helm chart layer that is not one directory is refused, naming the artifact.
    let loose = registry::tgz(&[("Chart.yaml", "name: loose\n"), ("values.yaml", "")]);
    let helm_layer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
    registry
        .push_artifact("charts/loose", "0.1.0", &loose, helm_layer, &[])
        .await;
    let url = format!("oci://{}/charts/loose", registry.host);
    let err = s
        .client
        .clone()
        .generate_manifest(manifest(native(&url, None), artifact_source(&url, "0.1.0")))
        .await
        .unwrap_err();
    refused(
        &err,
        Code::InvalidArgument,
        &[&url, "one directory", "2 entries"],
        PASSWORD,
    );
}

#[tokio::test]
async fn an_artifact_unpacking_past_the_cap_is_refused_and_leaves_nothing() {
    let Some(tools) = tools() else {
        return;
    };
    let registry = Registry::start(&tools, Mode::Plain);
    let zeros = "0".repeat(4 << 20);
    let layer = registry::tgz(&[("cm.yaml", "kind: ConfigMap\n"), ("zeros", &zeros)]);
    let cap = 64 * 1024;
    assert!(
        (layer.len() as u64) < cap,
        "the layer itself is under the cap"
    );
    let (digest, _) = registry
        .push_artifact("apps/bomb", "v1", &layer, TGZ, &[])
        .await;
    let url = format!("oci://{}/apps/bomb", registry.host);
    let s = server(|e| e.fetch.oci_max_extracted_bytes = Some(cap)).await;
    let err = s
        .client
        .clone()
        .generate_manifest(manifest(native(&url, None), artifact_source(&url, "v1")))
        .await
        .unwrap_err();
    refused(&err, Code::ResourceExhausted, &[&url, &digest], PASSWORD);
    assert_eq!(files(&s.cache.join("unpacked")), Vec::<String>::new());
    let failed = counted(
        s.running.http,
        "argocd_oci_extract_fail_total",
        &registry.host,
    )
    .await;
    assert_eq!(failed, 1);
}
