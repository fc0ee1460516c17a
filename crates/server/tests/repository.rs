//! The repository RPCs end to end: a real git repository (file://, allowed in tests), the
//! server behind mTLS, and the components' client.

#[path = "support/repos.rs"]
mod repos;
mod support;

use std::path::{Path, PathBuf};

use repo_proto::repository::*;
use repo_proto::v1alpha1::{Application, ApplicationSource, ApplicationSpec, Repository};
use repos::client;
use support::*;
use tonic::Code;

const WEB: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: \"1\"\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: web\n  spec:\n    ports:\n    - port: 80\n";

/// A repository with two commits: the first tagged v1.0.0; the second changes only apps/web.
fn repository(dir: &Path) -> (PathBuf, String, String) {
    let repo = dir.join("origin");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(&repo, "apps/web/web.yaml", WEB);
    write(
        &repo,
        "apps/api/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n",
    );
    write(&repo, "overlays/prod/kustomization.yaml", "resources: []\n");
    write(&repo, "config/a/config.json", "{\"a\":1}");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first commit"]);
    git(&repo, &["tag", "v1.0.0"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    write(&repo, "apps/web/web.yaml", &WEB.replace("\"1\"", "\"2\""));
    git(&repo, &["commit", "-q", "-am", "second commit"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    (repo, first, second)
}

fn repo_message(url: &str) -> Option<Repository> {
    Some(Repository {
        repo: Some(url.to_string()),
        ..Default::default()
    })
}

fn source(url: &str, path: &str, revision: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: Some(url.to_string()),
        path: Some(path.to_string()),
        target_revision: Some(revision.to_string()),
        ..Default::default()
    }
}

fn manifest_request(url: &str, path: &str, revision: &str) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: revision.to_string(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(source(url, path, revision)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_rpcs_over_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, first, second) = repository(dir.path());
    let url = format!("file://{}", origin.display());
    let (server, mut c) = client(dir.path()).await;

    let refs = c
        .list_refs(ListRefsRequest {
            repo: repo_message(&url),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refs.branches, ["main"]);
    assert_eq!(refs.tags, ["v1.0.0"]);

    let app = Application {
        spec: Some(ApplicationSpec {
            source: Some(source(&url, "apps/web", "v1.0.0")),
            ..Default::default()
        }),
        ..Default::default()
    };
    let resolved = c
        .resolve_revision(ResolveRevisionRequest {
            repo: repo_message(&url),
            app: Some(app),
            ambiguous_revision: "v1.0.0".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.revision, first);
    assert_eq!(resolved.ambiguous_revision, format!("v1.0.0 ({first})"));

    let generated = c
        .generate_manifest(manifest_request(&url, "apps/web", "main"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(generated.revision, second);
    assert_eq!(generated.source_type, "Directory");
    let objects: Vec<serde_json::Value> = generated
        .manifests
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["ConfigMap", "Service"],
        "List expanded, multi-document read"
    );
    assert_eq!(objects[0]["data"]["a"], "2");
    assert_eq!(
        objects[0]["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "web:/ConfigMap:prod/web"
    );
    // Same input again: the cached response is identical.
    let again = c
        .generate_manifest(manifest_request(&url, "apps/web", "main"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, generated);

    let meta = c
        .get_revision_metadata(RepoServerRevisionMetadataRequest {
            repo: repo_message(&url),
            revision: first.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.message.as_deref().map(str::trim), Some("first commit"));
    assert!(meta
        .author
        .as_deref()
        .unwrap_or_default()
        .contains("Test Author"));
    assert_eq!(meta.tags, ["v1.0.0"]);

    let apps = c
        .list_apps(ListAppsRequest {
            repo: repo_message(&url),
            revision: "main".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        apps.apps.get("overlays/prod").map(String::as_str),
        Some("Kustomize")
    );

    let files = c
        .get_git_files(GitFilesRequest {
            repo: repo_message(&url),
            revision: "main".into(),
            path: "config/**/config.json".into(),
            new_git_file_globbing_enabled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        files.map.get("config/a/config.json").map(Vec::as_slice),
        Some(&b"{\"a\":1}"[..])
    );
    let dirs = c
        .get_git_directories(GitDirectoriesRequest {
            repo: repo_message(&url),
            revision: "main".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        dirs.paths.contains(&"apps/web".to_string())
            && dirs.paths.contains(&"config/a".to_string())
    );

    // As the controller sends it (controller/state.go): the annotation's "." already resolved
    // against the app's path (GetSourceRefreshPaths), and the fields that key its manifests.
    let update = |path: &str| UpdateRevisionForPathsRequest {
        repo: repo_message(&url),
        application_source: Some(source(&url, path, "main")),
        synced_revision: first.clone(),
        revision: "main".into(),
        paths: vec![path.into()],
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        ..Default::default()
    };
    // Manifests rendered at the synced commit, which a commit without changes moves forward.
    c.generate_manifest(ManifestRequest {
        application_source: Some(source(&url, "apps/api", "main")),
        ..manifest_request(&url, "apps/api", &first)
    })
    .await
    .unwrap();
    let web = c
        .update_revision_for_paths(update("apps/web"))
        .await
        .unwrap()
        .into_inner();
    assert!(web.changes && web.revision == second);
    let api = c
        .update_revision_for_paths(update("apps/api"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !api.changes,
        "apps/api did not change between the two commits"
    );

    assert!(
        c.test_repository(TestRepositoryRequest {
            repo: repo_message(&url)
        })
        .await
        .unwrap()
        .into_inner()
        .verified_repository
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_meaningful_codes_and_never_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, _, _) = repository(dir.path());
    let url = format!("file://{}", origin.display());
    let (server, mut c) = client(dir.path()).await;
    let code = |r: Result<tonic::Response<ManifestResponse>, tonic::Status>| r.unwrap_err();

    let missing = code(
        c.generate_manifest(manifest_request(&url, "apps/web", "no-such-branch"))
            .await,
    );
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("no-such-branch"), "{missing:?}");
    let option = code(
        c.generate_manifest(manifest_request(&url, "apps/web", "--upload-pack=evil"))
            .await,
    );
    assert_eq!(option.code(), Code::InvalidArgument);
    let escape = code(
        c.generate_manifest(manifest_request(&url, "../../etc", "main"))
            .await,
    );
    assert_eq!(escape.code(), Code::InvalidArgument, "{escape:?}");
    let no_path = code(
        c.generate_manifest(manifest_request(&url, "apps/nowhere", "main"))
            .await,
    );
    assert_eq!(no_path.code(), Code::NotFound, "{no_path:?}");
    let ext = code(
        c.generate_manifest(manifest_request(
            "ext::sh -c touch% /tmp/pwned",
            "apps/web",
            "main",
        ))
        .await,
    );
    assert_eq!(ext.code(), Code::InvalidArgument, "{ext:?}");

    let secret = "hunter2-s3cr3t";
    let mut request = manifest_request("http://127.0.0.1:9/nothing.git", "apps/web", "main");
    request.repo = Some(Repository {
        repo: Some(format!("http://user:{secret}@127.0.0.1:9/nothing.git")),
        password: Some(secret.into()),
        ..Default::default()
    });
    let unreachable = code(c.generate_manifest(request).await);
    assert_eq!(unreachable.code(), Code::Unavailable, "{unreachable:?}");
    assert!(!unreachable.message().contains(secret), "{unreachable:?}");
    assert!(
        !logs().text().contains(secret),
        "a credential reached the logs"
    );
    server.stop().await.unwrap();
}

fn tgz(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, body) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, body.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn upload(
    request: ManifestRequest,
    archive: &[u8],
    checksum: Option<String>,
) -> Vec<ManifestRequestWithFiles> {
    use repo_proto::repository::manifest_request_with_files::Part;
    let checksum = checksum.unwrap_or_else(|| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(archive))
    });
    let mut parts = vec![
        Part::Request(request),
        Part::Metadata(ManifestFileMetadata {
            checksum,
            size: archive.len() as i64,
        }),
    ];
    parts.extend(
        archive
            .chunks(64)
            .map(|c| Part::Chunk(ManifestFileChunk { chunk: c.to_vec() })),
    );
    parts
        .into_iter()
        .map(|p| ManifestRequestWithFiles { part: Some(p) })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_files_are_rendered_from_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut c) = client(dir.path()).await;
    let archive = tgz(&[(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n",
    )]);
    let request = manifest_request("https://git.example/unused.git", "app", "main");
    let reply = c
        .generate_manifest_with_files(tokio_stream::iter(upload(request.clone(), &archive, None)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.revision, "streamed");
    assert_eq!(reply.manifests.len(), 1);
    assert!(reply.manifests[0].contains("\"name\":\"local\""));
    let tampered = c
        .generate_manifest_with_files(tokio_stream::iter(upload(
            request,
            &archive,
            Some("00".repeat(32)),
        )))
        .await
        .unwrap_err();
    assert_eq!(tampered.code(), Code::InvalidArgument, "{tampered:?}");
    assert!(tampered.message().contains("checksum mismatch"));
    server.stop().await.unwrap();
}

/// A one-file HTTP server for a Helm repository index, requiring Basic auth `helm:chartpw`.
async fn helm_repository() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                // base64("helm:chartpw")
                let (status, body) = if !head.contains("Authorization: Basic aGVsbTpjaGFydHB3")
                    && !head.contains("authorization: Basic aGVsbTpjaGFydHB3")
                {
                    ("401 Unauthorized", String::new())
                } else if head.starts_with("GET /charts/index.yaml ") {
                    ("200 OK", "apiVersion: v1\nentries:\n  web:\n  - version: 1.2.0\n  - version: 1.1.0\n  db:\n  - version: 0.1.0\n".to_string())
                } else {
                    ("404 Not Found", String::new())
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_charts_come_from_the_repository_index() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut c) = client(dir.path()).await;
    let helm = helm_repository().await;
    let request = |password: &str| HelmChartsRequest {
        repo: Some(Repository {
            repo: Some(format!("http://{helm}/charts")),
            username: Some("helm".into()),
            password: Some(password.into()),
            ..Default::default()
        }),
    };
    let charts = c
        .get_helm_charts(request("chartpw"))
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<(String, Vec<String>)> = charts
        .items
        .into_iter()
        .map(|h| (h.name, h.versions))
        .collect();
    assert_eq!(
        listed,
        [
            ("db".to_string(), vec!["0.1.0".to_string()]),
            (
                "web".to_string(),
                vec!["1.2.0".to_string(), "1.1.0".to_string()]
            )
        ]
    );
    let denied = c.get_helm_charts(request("wrong")).await.unwrap_err();
    assert_eq!(denied.code(), Code::FailedPrecondition, "{denied:?}");
    assert!(!denied.message().contains("wrong"));
    server.stop().await.unwrap();
}

/// A directory holding both a chart and a kustomization is one app type for every RPC: upstream's
/// discovery makes it Kustomize (ListApps once said Helm while GenerateManifest rendered it with
/// kustomize).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_app_type_for_listing_details_and_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("origin");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(
        &repo,
        "both/Chart.yaml",
        "apiVersion: v2\nname: both\nversion: 0.1.0\n",
    );
    write(&repo, "both/kustomization.yaml", "resources: [cm.yaml]\n");
    write(
        &repo,
        "both/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: both\n",
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "chart and kustomization"]);
    let url = format!("file://{}", repo.display());
    let (server, mut c) = client(dir.path()).await;

    let apps = c
        .list_apps(ListAppsRequest {
            repo: repo_message(&url),
            revision: "HEAD".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(apps.apps.get("both").map(String::as_str), Some("Kustomize"));

    let details = c
        .get_app_details(RepoServerAppDetailsQuery {
            repo: repo_message(&url),
            source: Some(source(&url, "both", "HEAD")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.r#type, "Kustomize");

    let rendered = c
        .generate_manifest(manifest_request(&url, "both", "HEAD"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rendered.source_type, "Kustomize");
    assert_eq!(rendered.manifests.len(), 1);
    server.stop().await.unwrap();
}
