//! Independence of the plugin protocol: each of our sides against an implementation of the
//! other side that we did not write, in Python grpcio, its stubs generated at test time from
//! upstream's plugin.proto (crates/proto/proto) by grpc_tools' protoc (tests/python).
//!
//! - our repo-server (over mTLS, as a controller calls it) driving a Python sidecar on a unix
//!   socket in its plugins directory: the Python side unpacks our tar.gz with `tarfile`,
//!   checks size and checksum itself, and answers from the files;
//! - a Python client sending a repository as upstream's Go sender archives it (a `.` entry,
//!   lexical walk order, 1 KiB-style chunks) to our `argocd-cmp-server`, and a crafted archive.
//!
//! Needs /usr/bin/python3 with Debian's python3-grpcio and python3-grpc-tools
//! (scripts/install-tools): missing, the tests fail under CI=true and are skipped elsewhere.

#[path = "support/repos.rs"]
mod repos;
#[path = "support/sidecars.rs"]
mod sidecars;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use repo_proto::repository::*;
use repo_proto::v1alpha1::{ApplicationSource, ApplicationSourcePlugin, EnvEntry};
use repos::{client_with, objects, repo_message, repository};
use serde_json::Value;
use sidecars::{definition, Sidecars};
use tempfile::TempDir;

/// Debian's interpreter, the one python3-grpcio and python3-grpc-tools install into.
const PYTHON: &str = "/usr/bin/python3";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Python with grpcio, and the stubs generated for this test into a temp dir.
struct Python {
    stubs: TempDir,
}

impl Python {
    /// `None` (the test skips) when grpcio or grpc_tools is missing; a failure under CI=true.
    fn new() -> Option<Self> {
        let found = Command::new(PYTHON)
            .args(["-c", "import grpc, grpc_tools.protoc"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            let why = format!("{PYTHON} without grpc and grpc_tools: run scripts/install-tools (Debian python3-grpcio python3-grpc-tools)");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipping: {why}");
            return None;
        }
        let stubs = tempfile::tempdir().unwrap();
        let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/proto");
        let out = Command::new(PYTHON)
            .arg(script("stubs.py"))
            .arg(proto)
            .arg(stubs.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "generating the stubs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Self { stubs })
    }

    /// The Python sidecar (tests/python/server.py) serving on `socket`, once it is there.
    fn server(&self, socket: &Path) -> Server {
        let log = socket.with_extension("log");
        let mut child = Command::new(PYTHON)
            .arg(script("server.py"))
            .arg(self.stubs.path())
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Waiting for the socket; the bound only keeps a broken interpreter from hanging.
        for _ in 0..400 {
            if socket.exists() {
                return Server(child);
            }
            if let Some(status) = child.try_wait().unwrap() {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the Python sidecar exited ({status}): {said}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        panic!("the Python sidecar made no socket in 10s");
    }

    /// One call of the Python client (tests/python/client.py): its JSON answer, `{"ok": …}`
    /// or `{"code": …, "details": …}`.
    fn call(&self, socket: &Path, call: &str, root: &Path, app: &str, extra: &[&str]) -> Value {
        let out = Command::new(PYTHON)
            .arg(script("client.py"))
            .arg(self.stubs.path())
            .arg(socket)
            .arg(call)
            .arg(root)
            .arg(app)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "client.py {call}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// A running Python sidecar; stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ";

/// An app for the Python sidecar's discovery (`py.plugin`) with two YAML files, one holding
/// two documents, and a link to a directory beside it; a failing app; a plain one.
fn files() -> Vec<(&'static str, String)> {
    vec![
        ("top.yaml", format!("{CM}top\n")),
        ("apps/py/py.plugin", String::new()),
        ("apps/py/cm.yaml", format!("{CM}one\n")),
        ("apps/py/two.yaml", format!("{CM}two\n---\n{CM}three\n")),
        ("apps/shared/s.txt", "shared\n".into()),
        ("apps/bad/py.plugin", String::new()),
        ("apps/bad/fail", String::new()),
        ("apps/plain/cm.yaml", format!("{CM}plain\n")),
    ]
}

fn request(url: &str, path: &str, plugin: Option<ApplicationSourcePlugin>) -> ManifestRequest {
    ManifestRequest {
        repo: repo_message(url),
        revision: "HEAD".into(),
        app_name: "web".into(),
        namespace: "prod".into(),
        app_label_key: "app.kubernetes.io/instance".into(),
        tracking_method: "label".into(),
        application_source: Some(ApplicationSource {
            repo_url: Some(url.into()),
            path: Some(path.into()),
            target_revision: Some("HEAD".into()),
            plugin,
            ..Default::default()
        }),
        no_cache: true,
        ..Default::default()
    }
}

/// The plugin `py` with `FOO` set to `$ARGOCD_APP_NAME-x` (substituted by the repo-server).
fn py() -> Option<ApplicationSourcePlugin> {
    Some(ApplicationSourcePlugin {
        name: Some("py".into()),
        env: vec![EnvEntry {
            name: Some("FOO".into()),
            value: Some("${ARGOCD_APP_NAME}-x".into()),
        }],
        ..Default::default()
    })
}

fn names(manifests: &[String]) -> Vec<String> {
    objects(manifests)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_repo_server_drives_a_python_sidecar() {
    let Some(python) = Python::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let files = files();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, b)| (*p, b.as_str())).collect();
    let (repo, url) = repository(dir.path(), "origin", &files);
    std::os::unix::fs::symlink("../shared", repo.join("apps/py/sub")).unwrap();
    repos::commit(&repo, &[]);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let _sidecar = python.server(&plugins.join("py.sock"));
    let mut engine = support::engine();
    engine.plugins.socket_dir = plugins;
    // Small chunks: the archive arrives in many messages.
    engine.plugins.chunk_size = 64;
    let (_server, mut c) = client_with(dir.path(), engine).await;

    // The named plugin: our archive, checked and unpacked by Python's tarfile.
    let answer = c
        .generate_manifest(request(&url, "apps/py", py()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Plugin");
    assert_eq!(
        names(&answer.manifests),
        ["py-report", "one", "two", "three"]
    );
    for object in objects(&answer.manifests) {
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/instance"], "web",
            "tracked as upstream tracks plugin output"
        );
    }
    let report = &objects(&answer.manifests)[0]["data"];
    assert_eq!(report["appName"], "py");
    assert_eq!(report["appRelPath"], "apps/py");
    let entries: BTreeSet<&str> = report["entries"].as_str().unwrap().lines().collect();
    for entry in [
        "f top.yaml 644",
        "f apps/py/cm.yaml 644",
        "f apps/shared/s.txt 644",
        "l apps/py/sub -> ../shared",
    ] {
        assert!(entries.contains(entry), "{entry} in {entries:?}");
    }
    let env: HashMap<String, String> =
        serde_json::from_str(report["env"].as_str().unwrap()).unwrap();
    assert_eq!(env["ARGOCD_ENV_FOO"], "web-x");
    assert_eq!(env["ARGOCD_APP_NAME"], "web");
    assert_eq!(env["ARGOCD_APP_NAMESPACE"], "prod");
    assert!(!env.contains_key("FOO"), "user variables only prefixed");
    assert_eq!(report["largestChunk"], "64");
    let chunks: u32 = report["chunks"].as_str().unwrap().parse().unwrap();
    assert!(chunks > 1, "{chunks} chunks");

    // Discovery: the Python plugin's MatchRepository takes the app holding py.plugin; an app
    // without it goes to the built-in tools.
    let answer = c
        .generate_manifest(request(&url, "apps/py", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Plugin");
    assert_eq!(names(&answer.manifests)[0], "py-report");
    let answer = c
        .generate_manifest(request(&url, "apps/plain", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.source_type, "Directory");
    assert_eq!(names(&answer.manifests), ["plain"]);

    // GetAppDetails: the Python plugin's announcement, read from the files it received.
    let details = c
        .get_app_details(RepoServerAppDetailsQuery {
            repo: repo_message(&url),
            source: Some(ApplicationSource {
                repo_url: Some(url.clone()),
                path: Some("apps/py".into()),
                target_revision: Some("HEAD".into()),
                plugin: py(),
                ..Default::default()
            }),
            app_name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.r#type, "Plugin");
    let announced = details.plugin.unwrap().parameters_announcement;
    assert_eq!(announced[0].name, "files");
    assert_eq!(announced[0].collection_type, "array");
    assert_eq!(announced[0].array, ["cm.yaml", "py.plugin", "two.yaml"]);
    assert_eq!(announced[1].name, "foo");
    assert!(announced[1].required);
    assert_eq!(announced[1].string, "web-x");

    // The Python plugin's refusal comes back with its text.
    let err = c
        .generate_manifest(request(&url, "apps/bad", py()))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("python plugin refuses apps/bad"),
        "{}",
        err.message()
    );

    let listed: Vec<String> = c
        .list_plugins(())
        .await
        .unwrap()
        .into_inner()
        .items
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(listed, ["py"]);
}

/// A plugin whose discovery, parameters and output show what it received.
const ECHO: &str = r#"  version: v1
  discover:
    fileName: "*.marker"
  parameters:
    static:
      - name: replicas
        string: "2"
    dynamic:
      command: [sh, -c, 'printf "[{\"name\":\"seen\",\"array\":[\"%s\"]}]" "$(ls | tr "\n" " " | sed "s/ $//")"']
  generate:
    command: [sh, -c]
    args:
      - |
        cat *.yaml
        printf -- '---\n%sreport\ndata:\n' "$CM"
        printf '  foo: "%s"\n  app: "%s"\n' "$ARGOCD_ENV_FOO" "$ARGOCD_APP_NAME"
        printf '  link: "%s"\n' "$(readlink sub)"
        printf '  shared: "%s"\n' "$(cat sub/s.txt)"
"#;

/// A repository for [`ECHO`]: an app with a marker, a link beside it, and an app without.
fn echo_repo() -> TempDir {
    let root = tempfile::tempdir().unwrap();
    let write = |path: &str, body: &str| support::write(root.path(), path, body);
    write("apps/a/x.marker", "");
    write("apps/a/cm.yaml", &format!("{CM}a\n"));
    write("apps/shared/s.txt", "shared");
    write("apps/none/cm.yaml", &format!("{CM}none\n"));
    std::os::unix::fs::symlink("../shared", root.path().join("apps/a/sub")).unwrap();
    root
}

#[test]
fn a_python_client_drives_our_sidecar() {
    let Some(python) = Python::new() else { return };
    let mut sidecars = Sidecars::new();
    sidecars.add(&definition("echo", ECHO), &[("CM", CM)]);
    let socket = sidecars.plugins().join("echo-v1.sock");
    let repo = echo_repo();
    let call =
        |call: &str, app: &str, extra: &[&str]| python.call(&socket, call, repo.path(), app, extra);

    assert_eq!(
        call("check", "apps/a", &[])["ok"],
        serde_json::json!({"isDiscoveryConfigured": true, "provideGitCreds": false})
    );
    assert_eq!(call("match", "apps/a", &[])["ok"]["isSupported"], true);
    assert_eq!(call("match", "apps/none", &[])["ok"]["isSupported"], false);

    let params = call("params", "apps/a", &[]);
    let announced = params["ok"]["parameterAnnouncements"].as_array().unwrap();
    let by_name: HashMap<&str, &Value> = announced
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p))
        .collect();
    assert_eq!(by_name["replicas"]["string"], "2");
    assert_eq!(
        by_name["seen"]["array"],
        serde_json::json!(["cm.yaml sub x.marker"])
    );

    // Upstream's default 1 KiB chunks, then 7-byte ones: the same answer.
    for chunk in ["1024", "7"] {
        let answer = call(
            "generate",
            "apps/a",
            &[
                "--chunk",
                chunk,
                "--env",
                "ARGOCD_ENV_FOO=bar",
                "--env",
                "ARGOCD_APP_NAME=web",
            ],
        );
        let manifests: Vec<String> = serde_json::from_value(answer["ok"]["manifests"].clone())
            .unwrap_or_else(|_| panic!("{answer}"));
        assert_eq!(names(&manifests), ["a", "report"]);
        let data = &objects(&manifests)[1]["data"];
        assert_eq!(data["foo"], "bar");
        assert_eq!(data["app"], "web");
        assert_eq!(data["link"], "../shared", "the link arrives as a link");
        assert_eq!(data["shared"], "shared");
    }
}

#[test]
fn our_sidecar_refuses_what_a_python_client_crafts() {
    let Some(python) = Python::new() else { return };
    let mut sidecars = Sidecars::new();
    sidecars.add(&definition("echo", ECHO), &[("CM", CM)]);
    let socket = sidecars.plugins().join("echo-v1.sock");
    let repo = echo_repo();
    // A name climbing out with `../`, and a link to `../..` with a file written through it.
    let sidecar_dir = sidecars.plugins().parent().unwrap().to_path_buf();
    for (craft, escape, said) in [
        ("escape", "escaped-by-name.yaml", "../escaped-by-name.yaml"),
        ("link", "escaped-by-link.yaml", "up"),
    ] {
        let answer = python.call(
            &socket,
            "generate",
            repo.path(),
            "apps/a",
            &["--craft", &format!("{craft}:{escape}")],
        );
        assert_eq!(answer["code"], "INVALID_ARGUMENT", "{answer}");
        let details = answer["details"].as_str().unwrap();
        assert!(details.contains(said), "{craft}: {details}");
        // Nothing was written outside the request's directory: both lead into the sidecar's
        // work directory, which is below this one.
        let written: Vec<_> = walk(&sidecar_dir)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == escape))
            .collect();
        assert!(written.is_empty(), "{craft}: {written:?}");
    }

    let answer = python.call(
        &socket,
        "generate",
        repo.path(),
        "apps/a",
        &["--craft", "checksum"],
    );
    assert_eq!(answer["code"], "INVALID_ARGUMENT", "{answer}");
    assert!(
        answer["details"].as_str().unwrap().contains("checksum"),
        "{answer}"
    );
}

/// Every path below `dir`, links not followed.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}
