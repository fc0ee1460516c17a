//! Kustomize options end to end (issue 11 item 5): `kustomizeOptions` as upstream's callers send
//! them with every request — the controller in `controller/state.go` (`GetKustomizeSettings()`
//! into `ManifestRequest.KustomizeOptions`), the API server in `server/application/application.go`
//! and `util/argo/argo.go` (`RepoServerAppDetailsQuery.KustomizeOptions`): `buildOptions` from
//! argocd-cm `kustomize.buildOptions`, `versions` from `kustomize.path.<name>`. A real git
//! repository, the server behind mTLS, the real kustomize and helm.
//!
//! Ported from upstream's reposerver/repository/repository_test.go
//! (`Test_GenerateManifest_KustomizeWithVersionOverride`, `TestGetAppDetailsKustomize_CustomVersion`,
//! the "kustomize" case of `Test_GenerateManifest_Commands`) and util/kustomize/kustomize_test.go
//! (`TestKustomizeCustomVersion`, `TestParseKustomizeBuildHelmOptions`).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use repo_client::RepoServerServiceClient;
use repo_proto::intstr::IntOrString;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceKustomize, KustomizeOptions, KustomizeReplica,
    KustomizeVersion, Repository,
};
use repo_testkit::{Ca, Leaf};
use repo_tls::ServerTrust;
use support::*;
use tonic::transport::Channel;
use tonic::Code;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn write(root: &Path, file: &str, body: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// Whether `kustomize` and `helm` are on PATH; under CI=true their absence fails the test.
fn tools() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = |name: &str| std::env::split_paths(&path).any(|d| d.join(name).is_file());
    let missing: Vec<_> = ["kustomize", "helm"]
        .into_iter()
        .filter(|n| !found(n))
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{missing:?} required under CI=true; put .tools/bin on PATH (scripts/install-tools)"
        );
    }
    eprintln!("skipping: {missing:?} not on PATH (export PATH=$PWD/.tools/bin:$PATH)");
    false
}

/// A chart that shows the capabilities helm saw.
const CHART_CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hello\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  test: {{ .Capabilities.APIVersions.Has \"test.example/v1\" | quote }}\n";

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-deployment\nspec:\n  selector:\n    matchLabels:\n      app: my-app\n  template:\n    metadata:\n      labels:\n        app: my-app\n    spec:\n      containers:\n        - name: my-container\n          image: my-image:latest\n";

/// apps/helmed: helmCharts from a local chart (no repo, `helmGlobals.chartHome`, no network);
/// apps/plain: a Deployment (upstream's kustomize-with-version-override); apps/dir: plain YAML.
fn repository(dir: &Path) -> String {
    let repo = dir.join("origin");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(
        &repo,
        "apps/helmed/kustomization.yaml",
        "helmGlobals:\n  chartHome: charts\nhelmCharts:\n- name: hello\n  releaseName: rel\n",
    );
    write(
        &repo,
        "apps/helmed/charts/hello/Chart.yaml",
        "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
    );
    write(&repo, "apps/helmed/charts/hello/values.yaml", "{}\n");
    write(
        &repo,
        "apps/helmed/charts/hello/templates/cm.yaml",
        CHART_CM,
    );
    write(
        &repo,
        "apps/plain/kustomization.yml",
        "resources:\n  - deployment.yaml\n",
    );
    write(&repo, "apps/plain/deployment.yaml", DEPLOYMENT);
    // upstream's util/kustomize/testdata/kustomize-with-version-override
    write(
        &repo,
        "apps/override/.argocd-source.yaml",
        "kustomize:\n  version: v1.2.3\n",
    );
    write(
        &repo,
        "apps/override/kustomization.yml",
        "resources:\n  - deployment.yaml\n",
    );
    write(&repo, "apps/override/deployment.yaml", DEPLOYMENT);
    write(
        &repo,
        "apps/dir/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dir\n",
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "apps"]);
    format!("file://{}", repo.display())
}

/// The server (its repository cache directory returned too) and a controller's client.
async fn client(
    dir: &Path,
) -> (
    repo_server::Running,
    RepoServerServiceClient<Channel>,
    PathBuf,
) {
    let ca = Ca::new("repo-ca");
    ca.issue(&Leaf::server()).write(dir, "tls");
    std::fs::write(dir.join("client-ca.crt"), &ca.cert).unwrap();
    logs();
    let config = config(Some(tls(dir)));
    let cache = config.engine.repo_cache_dir.clone();
    let server = repo_server::start(config).await.expect("server starts");
    let id = ca
        .issue(&Leaf::client("argocd-application-controller"))
        .write(dir, "client");
    let channel = repo_client::open(
        &server.grpc.to_string(),
        Some(connector(ServerTrust::Insecure, Some(id))),
        None,
    )
    .await
    .unwrap();
    (server, RepoServerServiceClient::new(channel), cache)
}

fn repo_message(url: &str) -> Option<Repository> {
    Some(Repository {
        repo: Some(url.to_string()),
        ..Default::default()
    })
}

fn source(url: &str, path: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: Some(url.to_string()),
        path: Some(path.to_string()),
        target_revision: Some("HEAD".into()),
        ..Default::default()
    }
}

/// As the controller builds it (controller/state.go): the app, its destination, the cluster's
/// version and API groups, and argocd-cm's Kustomize settings.
fn request(url: &str, path: &str, options: Option<KustomizeOptions>) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: "HEAD".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        kube_version: "1.29.3+k3s1".into(),
        api_versions: vec!["test.example/v1".into(), "v1".into()],
        kustomize_options: options,
        application_source: Some(source(url, path)),
        ..Default::default()
    }
}

fn build_options(options: &str) -> Option<KustomizeOptions> {
    Some(KustomizeOptions {
        build_options: Some(options.into()),
        ..Default::default()
    })
}

fn versions(pairs: &[(&str, &str)]) -> Option<KustomizeOptions> {
    Some(KustomizeOptions {
        versions: pairs
            .iter()
            .map(|(name, path)| KustomizeVersion {
                name: Some(name.to_string()),
                path: Some(path.to_string()),
                build_options: None,
            })
            .collect(),
        ..Default::default()
    })
}

fn with_version(mut req: ManifestRequest, version: &str) -> ManifestRequest {
    let source = req.application_source.as_mut().unwrap();
    source.kustomize = Some(ApplicationSourceKustomize {
        version: Some(version.into()),
        ..Default::default()
    });
    req
}

fn objects(res: &ManifestResponse) -> Vec<serde_json::Value> {
    res.manifests
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

/// An executable script at `path`.
fn script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A registered binary that records each invocation (arguments and `ARGOCD_APP_NAME`, as
/// upstream's `custom_version/kustomize.special` does) and runs the real kustomize.
fn wrapper(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("wrapper.log");
    let path = dir.join("tools/kustomize-special");
    script(
        &path,
        &format!(
            "#!/bin/sh\necho \"$ARGOCD_APP_NAME $*\" >> '{}'\nexec kustomize \"$@\"\n",
            log.display()
        ),
    );
    (path, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_helm_renders_a_local_chart_with_the_clusters_versions() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path());
    let (server, mut c, _) = client(dir.path()).await;

    let res = c
        .generate_manifest(request(&url, "apps/helmed", build_options("--enable-helm")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.source_type, "Kustomize");
    let objs = objects(&res);
    assert_eq!(objs.len(), 1, "{objs:?}");
    assert_eq!(objs[0]["metadata"]["name"], "rel-hello");
    // upstream's parseKustomizeBuildOptions: with --enable-helm (and kustomize >= 5.3 or an
    // unparsable version), the request's kube version (parsed as upstream does) and API versions.
    assert_eq!(objs[0]["data"]["kube"], "v1.29.3");
    assert_eq!(objs[0]["data"]["test"], "true");
    assert_eq!(
        res.commands,
        ["kustomize build ./apps/helmed --enable-helm --helm-kube-version 1.29.3 --helm-api-versions test.example/v1 --helm-api-versions v1"]
    );

    // The options are part of the cache key: without them the same app is not a cache hit but
    // kustomize's own refusal.
    let err = c
        .generate_manifest(request(&url, "apps/helmed", None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("--enable-helm"), "{err:?}");

    // Options given as `--opt=value` pass through as given, split on whitespace as upstream does.
    let res = c
        .generate_manifest(request(
            &url,
            "apps/helmed",
            build_options("  --enable-helm\t--load-restrictor=LoadRestrictionsNone "),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        res.commands,
        ["kustomize build ./apps/helmed --enable-helm --load-restrictor=LoadRestrictionsNone --helm-kube-version 1.29.3 --helm-api-versions test.example/v1 --helm-api-versions v1"]
    );

    // GetAppDetails (util/argo/argo.go, server/application/application.go) builds with the
    // same options.
    let details = c
        .get_app_details(RepoServerAppDetailsQuery {
            repo: repo_message(&url),
            source: Some(source(&url, "apps/helmed")),
            kustomize_options: build_options("--enable-helm"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.r#type, "Kustomize");
    server.stop().await.unwrap();
}

/// Upstream's `Test_GenerateManifest_Commands` "kustomize" case: every override plus
/// `--enable-helm`; the source's own kubeVersion and apiVersions win over the request's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_upstreams() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("origin");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(
        &repo,
        "kustomization.yaml",
        "\nresources:\n- guestbook.yaml\n",
    );
    write(
        &repo,
        "guestbook.yaml",
        "\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook-ui\n",
    );
    write(
        &repo,
        "component/kustomization.yaml",
        "\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n- name: old\n  newName: new\n",
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "guestbook"]);
    let url = format!("file://{}", repo.display());
    let (server, mut c, _) = client(dir.path()).await;

    let mut req = request(&url, ".", build_options("--enable-helm"));
    req.app_name = "test-app".into();
    req.namespace = "test-namespace".into();
    req.kube_version = "1.2.3+something".into();
    req.api_versions = vec!["v1/Test".into(), "v2/Test".into()];
    req.application_source.as_mut().unwrap().kustomize = Some(ApplicationSourceKustomize {
        api_versions: vec!["v1".into(), "v2".into()],
        common_annotations: [("test".into(), "annotation-$ARGOCD_APP_NAME".into())].into(),
        common_annotations_envsubst: Some(true),
        common_labels: [("test".into(), "label".into())].into(),
        components: vec!["component".into()],
        force_common_annotations: Some(true),
        force_common_labels: Some(true),
        images: vec!["image=override".into()],
        kube_version: Some("5.6.7+something".into()),
        label_without_selector: Some(true),
        label_include_templates: Some(true),
        name_prefix: Some("test-prefix".into()),
        name_suffix: Some("test-suffix".into()),
        namespace: Some("override-namespace".into()),
        replicas: vec![KustomizeReplica {
            name: Some("guestbook-ui".into()),
            count: Some(IntOrString {
                r#type: Some(1),
                int_val: None,
                str_val: Some("1337".into()),
            }),
        }],
        ..Default::default()
    });
    let res = c.generate_manifest(req).await.unwrap().into_inner();
    assert_eq!(
        res.commands,
        [
            "kustomize edit set nameprefix -- test-prefix",
            "kustomize edit set namesuffix -- test-suffix",
            "kustomize edit set image image=override",
            "kustomize edit set replicas guestbook-ui=1337",
            "kustomize edit add label --force --without-selector --include-templates test:label",
            "kustomize edit add annotation --force test:annotation-test-app",
            "kustomize edit set namespace -- override-namespace",
            "kustomize edit add component component",
            "kustomize build . --enable-helm --helm-kube-version 5.6.7 --helm-api-versions v1 --helm-api-versions v2",
        ]
    );
    server.stop().await.unwrap();
}

/// Upstream's `Test_GenerateManifest_KustomizeWithVersionOverride` and
/// `TestGetAppDetailsKustomize_CustomVersion`: an unregistered version is an error naming it,
/// never the default binary; registered as `kustomize` (a name on PATH) it builds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_version_is_an_error_naming_it() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path());
    let (server, mut c, _) = client(dir.path()).await;

    let unregistered = with_version(request(&url, "apps/plain", versions(&[])), "v1.2.3");
    let err = c.generate_manifest(unregistered).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .contains("kustomize version v1.2.3 is not registered"),
        "{err:?}"
    );
    // No options at all (an old controller): the same.
    let err = c
        .generate_manifest(with_version(request(&url, "apps/plain", None), "v1.2.3"))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("kustomize version v1.2.3 is not registered"),
        "{err:?}"
    );
    let details = |options| RepoServerAppDetailsQuery {
        repo: repo_message(&url),
        source: with_version(request(&url, "apps/plain", None), "v1.2.3").application_source,
        kustomize_options: options,
        ..Default::default()
    };
    let err = c.get_app_details(details(versions(&[]))).await.unwrap_err();
    assert!(
        err.message()
            .contains("kustomize version v1.2.3 is not registered"),
        "{err:?}"
    );

    let registered = versions(&[("v1.2.3", "kustomize")]);
    let res = c
        .generate_manifest(with_version(
            request(&url, "apps/plain", registered.clone()),
            "v1.2.3",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(objects(&res)[0]["kind"], "Deployment");
    assert_eq!(res.commands, ["kustomize build ./apps/plain"]);
    let found = c
        .get_app_details(details(registered))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.r#type, "Kustomize");
    assert_eq!(found.kustomize.unwrap().images, ["my-image:latest"]);
    server.stop().await.unwrap();
}

/// Upstream's `TestKustomizeCustomVersion`: the registered binary runs every kustomize step
/// with the build environment, and upstream's commands name it as registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_version_runs_that_binary() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path());
    let (wrapper, log) = wrapper(dir.path());
    let (server, mut c, _) = client(dir.path()).await;
    let shown = wrapper.display().to_string();

    let mut req = with_version(
        request(
            &url,
            "apps/plain",
            versions(&[("v4", "/nonexistent/kustomize"), ("special", &shown)]),
        ),
        "special",
    );
    req.application_source
        .as_mut()
        .unwrap()
        .kustomize
        .as_mut()
        .unwrap()
        .name_prefix = Some("x-".into());
    let res = c.generate_manifest(req).await.unwrap().into_inner();
    assert_eq!(objects(&res)[0]["metadata"]["name"], "x-my-deployment");
    assert_eq!(
        res.commands,
        [
            format!("{shown} edit set nameprefix -- x-"),
            format!("{shown} build ./apps/plain"),
        ]
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], "web edit set nameprefix -- x-");
    assert!(
        calls[1].starts_with("web build ") && calls[1].ends_with("/apps/plain"),
        "{calls:?}"
    );

    // The deprecated binaryPath wins over versions, as upstream's GetKustomizeBinaryPath.
    std::fs::remove_file(&log).unwrap();
    let mut options = versions(&[]).unwrap();
    options.binary_path = Some(shown.clone());
    let res = c
        .generate_manifest(with_version(
            request(&url, "apps/plain", Some(options)),
            "unregistered",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.commands, [format!("{shown} build ./apps/plain")]);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
    server.stop().await.unwrap();
}

/// Options that let a repository run programs or write files on the repo-server are refused
/// for Kustomize apps (the same argocd-cm options travel with every request, so other apps
/// still render); binaries must be ones the server's operator installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_options_and_binaries_are_refused() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path());
    let (server, mut c, cache) = client(dir.path()).await;
    // A program planted where request content lands (the repository cache: snapshots of
    // repositories anyone with push access controls).
    let planted = cache.join("planted/kustomize");
    script(
        &planted,
        "#!/bin/sh\ntouch \"$0.ran\"\nexec kustomize \"$@\"\n",
    );
    let planted_s = planted.display().to_string();

    for (options, named) in [
        ("--enable-exec", "--enable-exec"),
        ("--enable-alpha-plugins", "--enable-alpha-plugins"),
        ("--enable_alpha_plugins", "--enable_alpha_plugins"),
        ("--enable-helm -o /tmp/out", "-o"),
        ("--output=/tmp/out", "--output"),
        ("--mount type=bind,src=/,dst=/x", "--mount"),
        ("./other", "./other"),
        (
            &format!("--enable-helm --helm-command {planted_s}") as &str,
            "--helm-command",
        ),
        ("--helm-command=../x", "--helm-command"),
    ] {
        let err = c
            .generate_manifest(request(&url, "apps/plain", build_options(options)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{options}: {err:?}");
        assert!(err.message().contains(named), "{options}: {err:?}");
        assert!(err.message().contains("kustomize.buildOptions"), "{err:?}");
        // Not a Kustomize app: the options do not apply.
        let res = c
            .generate_manifest(request(&url, "apps/dir", build_options(options)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(res.source_type, "Directory");
    }

    for path in [
        planted_s.as_str(),
        "tools/kustomize",
        "/nonexistent/kustomize",
    ] {
        let req = with_version(request(&url, "apps/plain", versions(&[("v9", path)])), "v9");
        let err = c.generate_manifest(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{path}: {err:?}");
        assert!(err.message().contains(path), "{path}: {err:?}");
    }
    assert!(!cache.join("planted/kustomize.ran").exists());

    // The operator's choice upstream documents stays allowed.
    let res = c
        .generate_manifest(request(
            &url,
            "apps/plain",
            build_options("--load-restrictor LoadRestrictionsNone"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        res.commands,
        ["kustomize build ./apps/plain --load-restrictor LoadRestrictionsNone"]
    );
    server.stop().await.unwrap();
}

/// Upstream's `parseKustomizeBuildOptions` passes the Helm version flags only to kustomize
/// 5.3.0 and later, which it asks with `kustomize version`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_versions_only_for_kustomize_5_3_and_later() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path());
    let old = dir.path().join("tools/kustomize-v5.2.1");
    script(
        &old,
        "#!/bin/sh\n[ \"$1\" = version ] && { echo v5.2.1; exit 0; }\nexec kustomize \"$@\"\n",
    );
    let old = old.display().to_string();
    let (server, mut c, _) = client(dir.path()).await;

    let mut options = build_options("--enable-helm").unwrap();
    options.versions = versions(&[("v5.2.1", &old)]).unwrap().versions;
    let mut req = with_version(request(&url, "apps/helmed", Some(options)), "v5.2.1");
    for no_cache in [false, true] {
        // The second render (hard refresh) uses the version remembered for the binary.
        req.no_cache = no_cache;
        let res = c.generate_manifest(req.clone()).await.unwrap().into_inner();
        assert_eq!(
            res.commands,
            [format!("{old} build ./apps/helmed --enable-helm")]
        );
        assert_eq!(objects(&res)[0]["data"]["test"], "false");
    }
    server.stop().await.unwrap();
}

/// Upstream's `Test_GenerateManifest_KustomizeWithVersionOverride` and
/// `TestGetAppDetailsKustomize_CustomVersion` as written: the version comes from the app's
/// `.argocd-source.yaml`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_from_the_argocd_source_file() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path());
    let (server, mut c, _) = client(dir.path()).await;
    let details = |options| RepoServerAppDetailsQuery {
        repo: repo_message(&url),
        source: Some(source(&url, "apps/override")),
        kustomize_options: options,
        ..Default::default()
    };

    let err = c
        .generate_manifest(request(&url, "apps/override", versions(&[])))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("kustomize version v1.2.3 is not registered"),
        "{err:?}"
    );
    let err = c
        .get_app_details(details(Some(KustomizeOptions::default())))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("kustomize version v1.2.3 is not registered"),
        "{err:?}"
    );

    let registered = versions(&[("v1.2.3", "kustomize")]);
    let res = c
        .generate_manifest(request(&url, "apps/override", registered.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(objects(&res)[0]["kind"], "Deployment");
    let found = c
        .get_app_details(details(registered))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.r#type, "Kustomize");
    server.stop().await.unwrap();
}
