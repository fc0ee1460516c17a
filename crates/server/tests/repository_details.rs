//! Repository RPC details as upstream's repo-server answers them (issue 11, item 7), over gRPC
//! against file:// repositories built here: commit-trailer references, annotated tags, hidden
//! directories, legacy and new file globbing, directory include/exclude globs, UTF-16
//! manifests, GetAppDetails input errors and unsupported repository types.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use repo_client::RepoServerServiceClient;
use repo_proto::repository::*;
use repo_proto::v1alpha1::{
    ApplicationSource, ApplicationSourceDirectory, CommitMetadata, Repository,
};
use support::*;
use tonic::transport::Channel;
use tonic::Code;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=Test Author",
            "-c",
            "user.email=author@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "tag.gpgSign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(root: &Path, file: &str, body: impl AsRef<[u8]>) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// A repository holding `files`, committed once; its URL and the commit.
fn repository(dir: &Path, files: &[(&str, &[u8])]) -> (PathBuf, String, String) {
    let repo = dir.join("origin");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    for (file, body) in files {
        write(&repo, file, body);
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first commit"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.display());
    (repo, url, sha)
}

/// A plain-text server (this file is about answers, not transport) with `hidden` as
/// `--include-hidden-directories`.
async fn server(hidden: bool) -> (repo_server::Running, RepoServerServiceClient<Channel>) {
    logs();
    let mut config = config(None);
    config.engine.manifests.include_hidden_directories = hidden;
    let server = repo_server::start(config).await.expect("server starts");
    let channel = repo_client::open(&server.grpc.to_string(), None, None)
        .await
        .unwrap();
    (server, RepoServerServiceClient::new(channel))
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

/// As the application controller builds it (controller/state.go GetRepoObjs).
fn manifest_request(url: &str, source: ApplicationSource) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: source.target_revision().to_string(),
        app_name: "app".into(),
        namespace: "default".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "annotation".into(),
        application_source: Some(source),
        ..Default::default()
    }
}

fn names(manifests: &[String]) -> BTreeSet<String> {
    manifests
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(m).unwrap();
            v["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect()
}

/// GetRevisionMetadata as the API server asks for it (server/application/application.go
/// RevisionMetadata): references come from `Argocd-reference-commit-*` trailers, parsed as
/// upstream's util/git GetReferences (invalid values skipped, the message left whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_metadata_reports_trailer_references() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, url, plain) = repository(dir.path(), &[("a.yaml", b"a: 1\n")]);
    let message = "Hydrate manifests\n\nSome body.\n\n\
        Argocd-reference-commit-repourl: https://github.com/org/repo.git\n\
        Argocd-reference-commit-author: John Doe <john.doe@example.com>\n\
        Argocd-reference-commit-date: 2024-05-01T10:20:30.5+00:00\n\
        Argocd-reference-commit-subject: Fix bug\n\
        Argocd-reference-commit-body: \"Fix bug\\n\\nSome: trailer\"\n\
        Argocd-reference-commit-sha: abc123";
    git(&repo, &["commit", "-q", "--allow-empty", "-m", message]);
    let hydrated = git(&repo, &["rev-parse", "HEAD"]);
    let invalid = "Partly valid\n\n\
        Argocd-reference-commit-sha: abc1234\n\
        Argocd-reference-commit-repourl: % invalid %\n\
        Argocd-reference-commit-date: invalid-date\n\
        Argocd-reference-commit-author: % not email %\n\
        Argocd-reference-commit-body: this isn't json";
    git(&repo, &["commit", "-q", "--allow-empty", "-m", invalid]);
    let partly = git(&repo, &["rev-parse", "HEAD"]);
    let (_server, mut client) = server(false).await;
    let metadata = |revision: &str| RepoServerRevisionMetadataRequest {
        repo: repo_message(&url),
        revision: revision.to_string(),
        ..Default::default()
    };

    let m = client
        .get_revision_metadata(metadata(&hydrated))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.author(), "Test Author <author@example.com>");
    assert_eq!(m.message(), message, "the message is kept whole");
    assert_eq!(m.references.len(), 1);
    let commit = m.references[0].commit.clone().unwrap();
    assert_eq!(
        commit,
        CommitMetadata {
            author: Some("\"John Doe\" <john.doe@example.com>".into()),
            date: Some("2024-05-01T10:20:30Z".into()),
            subject: Some("Fix bug".into()),
            body: Some("Fix bug\n\nSome: trailer".into()),
            sha: Some("abc123".into()),
            repo_url: Some("https://github.com/org/repo.git".into()),
        }
    );

    let m = client
        .get_revision_metadata(metadata(&partly))
        .await
        .unwrap()
        .into_inner();
    let commit = m.references[0].commit.clone().unwrap();
    assert_eq!(commit.sha(), "abc1234");
    assert_eq!(commit.author(), "");
    assert_eq!(commit.repo_url(), "");
    assert_eq!(commit.date(), "");
    assert_eq!(commit.body(), "");

    let m = client
        .get_revision_metadata(metadata(&plain))
        .await
        .unwrap()
        .into_inner();
    assert!(m.references.is_empty(), "{:?}", m.references);
    assert_eq!(m.message(), "first commit");
}

/// An annotated tag resolves to the commit it tags, by name and by the tag object's own SHA
/// (upstream's TestGenerateManifestWithAnnotatedAndRegularGitTagHashes: the response revision
/// is the commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_tag_resolves_to_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let cm = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tagged\n";
    let (repo, url, commit) = repository(dir.path(), &[("app/cm.yaml", cm)]);
    git(&repo, &["tag", "-a", "v2.0.0", "-m", "release v2"]);
    let tag_object = git(&repo, &["rev-parse", "v2.0.0"]);
    assert_ne!(tag_object, commit);
    let (_server, mut client) = server(false).await;

    for revision in ["v2.0.0", "refs/tags/v2.0.0", ">=2.0.0", tag_object.as_str()] {
        let r = client
            .resolve_revision(ResolveRevisionRequest {
                repo: repo_message(&url),
                ambiguous_revision: revision.to_string(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.revision, commit, "ResolveRevision {revision}");

        let generated = client
            .generate_manifest(manifest_request(&url, source(&url, "app", revision)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(generated.revision, commit, "GenerateManifest {revision}");
        assert_eq!(
            names(&generated.manifests),
            BTreeSet::from(["tagged".into()])
        );

        let m = client
            .get_revision_metadata(RepoServerRevisionMetadataRequest {
                repo: repo_message(&url),
                revision: revision.to_string(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(m.message(), "first commit", "the commit's, not the tag's");
        assert_eq!(m.tags, ["v2.0.0"]);

        let files = client
            .get_git_files(GitFilesRequest {
                repo: repo_message(&url),
                revision: revision.to_string(),
                path: "app/*.yaml".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(files.map.keys().collect::<Vec<_>>(), ["app/cm.yaml"]);
    }
}

/// Upstream's testdata/git-files-dirs.
const FILES_DIRS: &[(&str, &[u8])] = &[
    ("app/bar/.hidden/.keep", b""),
    ("app/bar/.keep", b""),
    ("app/foo/bar/config.yaml", b"a: 1\n"),
    ("app/foo/config.yaml", b"a: 2\n"),
    ("config.yaml", b"a: 3\n"),
    ("somedir/config.yaml", b"a: 4\n"),
];

/// GetGitDirectories leaves hidden directories out unless `--include-hidden-directories`
/// (upstream's TestGetGitDirectories and TestGetGitDirectoriesWithHiddenDirSupported);
/// GetGitFiles lists files in hidden directories either way, as `git ls-files` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_directories_follow_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url, _) = repository(dir.path(), FILES_DIRS);
    let visible = ["app", "app/bar", "app/foo", "app/foo/bar", "somedir"];
    for (hidden, extra) in [(false, None), (true, Some("app/bar/.hidden"))] {
        let (_server, mut client) = server(hidden).await;
        let paths = client
            .get_git_directories(GitDirectoriesRequest {
                repo: repo_message(&url),
                revision: "HEAD".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .paths;
        let want: BTreeSet<_> = visible.iter().copied().chain(extra).collect();
        assert_eq!(
            paths.iter().map(String::as_str).collect::<BTreeSet<_>>(),
            want,
            "include hidden: {hidden}"
        );
        for new in [false, true] {
            let files = client
                .get_git_files(GitFilesRequest {
                    repo: repo_message(&url),
                    revision: "HEAD".into(),
                    path: "**/.keep".into(),
                    new_git_file_globbing_enabled: new,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let got: BTreeSet<_> = files.map.keys().map(String::as_str).collect();
            assert_eq!(
                got,
                BTreeSet::from(["app/bar/.hidden/.keep", "app/bar/.keep"]),
                "new globbing {new}"
            );
        }
    }
}

/// The files `git ls-files --full-name -z -- <pattern>` lists: upstream's legacy GetGitFiles.
fn ls_files(repo: &Path, pattern: &str) -> BTreeSet<String> {
    git(repo, &["ls-files", "--full-name", "-z", "--", pattern])
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// Legacy globbing is git's pathspec (`*` crosses `/`, so `p1/**/config.json` does not match
/// `p1/config.json`), checked against git itself; new globbing is doublestar's (the cases of
/// upstream's applicationset git generator tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_and_new_file_globbing() {
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, &[u8])] = &[
        ("config.json", b"{}"),
        ("p1/config.json", b"{}"),
        ("p1/p2/config.json", b"{}"),
        ("p1/app2/config.json", b"{}"),
        ("cluster-config/production/config.json", b"{}"),
        ("cluster-config/engineering/dev/config.json", b"{}"),
        ("cluster-config/engineering/prod/config.json", b"{}"),
        ("cluster-charts/a/values.yaml", b"a: 1\n"),
        ("cluster-charts/a/b/values.yaml", b"a: 1\n"),
        ("some-path/a.yaml", b"a: 1\n"),
        ("some-path/sub/b.yaml", b"a: 1\n"),
        (".hidden/config.json", b"{}"),
        ("x{a,b}.json", b"{}"),
    ];
    let (repo, url, _) = repository(dir.path(), files);
    let (_server, mut client) = server(false).await;
    let mut call = async |pattern: &str, new: bool| -> BTreeSet<String> {
        client
            .get_git_files(GitFilesRequest {
                repo: repo_message(&url),
                revision: "HEAD".into(),
                path: pattern.into(),
                new_git_file_globbing_enabled: new,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .into_inner()
            .map
            .into_keys()
            .collect()
    };
    let legacy = [
        "p1/**/config.json",
        "**/config.json",
        "*.json",
        "p1",
        "p1/",
        "cluster-config/*/dev/config.json",
        "cluster-config/**/config.json",
        "some-path/*.yaml",
        "p?/config.json",
        "[cp]*/config.json",
        "cluster-charts/*/values.yaml",
        "x{a,b}.json",
        "",
    ];
    for pattern in legacy {
        let want = ls_files(&repo, if pattern.is_empty() { "." } else { pattern });
        assert_eq!(call(pattern, false).await, want, "legacy {pattern:?}");
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert!(!call("p1/**/config.json", false)
        .await
        .contains("p1/config.json"));
    let new: &[(&str, &[&str])] = &[
        (
            "p1/**/config.json",
            &["p1/config.json", "p1/p2/config.json", "p1/app2/config.json"],
        ),
        ("some-path/*.yaml", &["some-path/a.yaml"]),
        (
            "cluster-charts/*/values.yaml",
            &["cluster-charts/a/values.yaml"],
        ),
        (
            "cluster-config/*/dev/config.json",
            &["cluster-config/engineering/dev/config.json"],
        ),
        ("*.json", &["config.json", "x{a,b}.json"]),
        ("{config,nope}.json", &["config.json"]),
        // A directory the pattern names is left out (upstream fails reading it as a file).
        ("p1", &[]),
    ];
    for (pattern, want) in new {
        assert_eq!(call(pattern, true).await, set(want), "new {pattern:?}");
    }
    let all = call("**/config.json", true).await;
    assert!(all.contains("config.json") && all.contains(".hidden/config.json"));
    assert_eq!(all.len(), 8, "{all:?}");
}

/// Directory include/exclude are upstream's gobwas globs without separators: `*` crosses `/`
/// and `**/*.yaml` needs a `/` (upstream's TestFindResources and the disableExtensionFilter
/// cases of Test_findManifests_disableExtensionFilter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_include_exclude_globs() {
    let dir = tempfile::tempdir().unwrap();
    let deploy =
        |name: &str| format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n");
    let sealed =
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: my-secret\n";
    let (_, url, _) = repository(
        dir.path(),
        &[
            ("app/deployment.yaml", deploy("nginx-deployment").as_bytes()),
            (
                "app/subdir/deploymentSub.yaml",
                deploy("nginx-deployment-sub").as_bytes(),
            ),
            ("sealed/my-secret.yaml.sealed", sealed.as_bytes()),
        ],
    );
    let (_server, mut client) = server(false).await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("subdir/deploymentSub.yaml", "", &["nginx-deployment-sub"]),
        ("*.yaml", "", &["nginx-deployment", "nginx-deployment-sub"]),
        ("**/*.yaml", "", &["nginx-deployment-sub"]),
        ("nothing.yaml", "", &[]),
        ("", "subdir/deploymentSub.yaml", &["nginx-deployment"]),
        ("", "*.yaml", &[]),
        (
            "",
            "nothing.yaml",
            &["nginx-deployment", "nginx-deployment-sub"],
        ),
        ("{deployment,other}.yaml", "", &["nginx-deployment"]),
        ("*/deployment?ub.yaml", "", &["nginx-deployment-sub"]),
    ];
    for (include, exclude, want) in cases {
        let mut s = source(&url, "app", "HEAD");
        s.directory = Some(ApplicationSourceDirectory {
            recurse: Some(true),
            include: Some(include.to_string()),
            exclude: Some(exclude.to_string()),
            ..Default::default()
        });
        let got = client
            .generate_manifest(manifest_request(&url, s))
            .await
            .unwrap_or_else(|e| panic!("{include:?} {exclude:?}: {e}"))
            .into_inner();
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names(&got.manifests),
            want,
            "include {include:?} exclude {exclude:?}"
        );
    }
    for (disable, want) in [(true, 1), (false, 0)] {
        let mut s = source(&url, "sealed", "HEAD");
        s.directory = Some(ApplicationSourceDirectory {
            include: Some("{*.yaml.sealed,*.yaml}".into()),
            disable_extension_filter: Some(disable),
            ..Default::default()
        });
        let got = client
            .generate_manifest(manifest_request(&url, s))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            got.manifests.len(),
            want,
            "disableExtensionFilter {disable}"
        );
    }
}

/// UTF-16 manifests with a byte order mark are decoded (upstream's TestGenerateFromUTF16 with
/// its testdata/utf-16, and the big-endian form).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf16_manifests_with_a_bom_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = "kind: Namespace\r\napiVersion: v1\r\nmetadata:\r\n  name: linkerd\r\n  annotations:\r\n    linkerd.io/inject: disabled\r\n---\r\nkind: ServiceAccount\r\napiVersion: v1\r\nmetadata:\r\n  name: linkerd-controller\r\n  namespace: linkerd\r\n";
    let le: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xfe, 0xff]
        .into_iter()
        .chain(
            text.replace("linkerd-controller", "linkerd-be")
                .replace("name: linkerd\r", "name: linkerd-ns-be\r")
                .encode_utf16()
                .flat_map(u16::to_be_bytes),
        )
        .collect();
    let (_, url, _) = repository(
        dir.path(),
        &[("le/utf-16.yaml", &le), ("be/utf-16.yaml", &be)],
    );
    let (_server, mut client) = server(false).await;
    for (path, want) in [
        ("le", ["linkerd", "linkerd-controller"]),
        ("be", ["linkerd-be", "linkerd-ns-be"]),
    ] {
        let got = client
            .generate_manifest(manifest_request(&url, source(&url, path, "HEAD")))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .into_inner();
        assert_eq!(got.manifests.len(), 2, "{path}");
        assert_eq!(
            names(&got.manifests),
            want.map(String::from).into(),
            "{path}"
        );
    }
}

/// GetAppDetails with a path or revision that does not exist is INVALID_ARGUMENT with
/// upstream's messages (TestGetAppDetails_NonExistentPath, _NonExistentRevision; the query
/// as server/repository/repository.go GetAppDetails builds it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_details_missing_path_or_revision_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url, _) = repository(dir.path(), &[("app/cm.yaml", b"a: 1\n")]);
    let (_server, mut client) = server(false).await;
    let details = |path: &str, revision: &str| RepoServerAppDetailsQuery {
        repo: repo_message(&url),
        source: Some(source(&url, path, revision)),
        app_name: "app".into(),
        ..Default::default()
    };
    let e = client
        .get_app_details(details("does-not-exist", "HEAD"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .contains("does-not-exist: app path does not exist"),
        "{e:?}"
    );
    let e = client
        .get_app_details(details(".", "does-not-exist"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .contains("unable to resolve 'does-not-exist' to a commit SHA: revision not found"),
        "{e:?}"
    );
    let found = client
        .get_app_details(details("app", "HEAD"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.r#type, "Directory");
}

/// A repository type upstream does not know is refused before any git request, naming the
/// type; `git` (and the empty default) go on to the repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_repository_type_is_refused_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url, _) = repository(dir.path(), &[("app/cm.yaml", b"a: 1\n")]);
    let (server, mut client) = server(false).await;
    let typed = |kind: &str| {
        Some(Repository {
            repo: Some(url.clone()),
            r#type: Some(kind.to_string()),
            ..Default::default()
        })
    };
    let e = client
        .resolve_revision(ResolveRevisionRequest {
            repo: typed("svn"),
            ambiguous_revision: "HEAD".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("unsupported repository type \"svn\""),
        "{e:?}"
    );
    let mut request = manifest_request(&url, source(&url, "app", "HEAD"));
    request.repo = typed("svn");
    let e = client.generate_manifest(request).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let series = format!("argocd_git_request_total{{repo=\"{url}\",request_type=\"ls-remote\"}}");
    assert_eq!(metric(server.http, &series).await, None, "no git request");

    for kind in ["git", ""] {
        client
            .resolve_revision(ResolveRevisionRequest {
                repo: typed(kind),
                ambiguous_revision: "HEAD".into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("type {kind:?}: {e}"));
    }
    assert!(metric(server.http, &series).await.is_some(), "{series}");
}
