//! A real OCI registry (CNCF distribution, Debian's `docker-registry`) on 127.0.0.1 with a temp
//! config, charts pushed with the real `helm`, native artifacts pushed with oci-client.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use parking_lot::Mutex;
use repo_fetch::{Event, Observer, Proxies, Settings};
use repo_testkit::{Ca, Leaf};
use tempfile::TempDir;

use crate::token::{self, Signer};

pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "wonderland-7";
pub(crate) const TGZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The external programs the tests run.
pub(crate) struct Tools {
    registry: PathBuf,
    helm: PathBuf,
    htpasswd: PathBuf,
    tar: PathBuf,
}

/// The tools, or `None` (with the reason printed) when one is missing outside CI; under
/// `CI=true` a missing tool fails the test.
pub(crate) fn tools() -> Option<Tools> {
    let find = |name: &str| {
        let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin");
        std::iter::once(tools)
            .chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ))
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    let mut missing = Vec::new();
    let mut get = |name: &str| {
        find(name).unwrap_or_else(|| {
            missing.push(name.to_string());
            PathBuf::new()
        })
    };
    let tools = Tools {
        registry: get("docker-registry"),
        helm: get("helm"),
        htpasswd: get("htpasswd"),
        tar: get("tar"),
    };
    if missing.is_empty() {
        return Some(tools);
    }
    let why = format!("missing {}: run scripts/install-tools", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain HTTP, anonymous.
    Plain,
    /// Plain HTTP, htpasswd (bcrypt) Basic auth.
    Auth,
    /// HTTPS with a certificate from a private CA, anonymous.
    Tls,
    /// Plain HTTP, distribution token auth: a token server takes Basic credentials.
    Token,
}

/// A running registry, stopped on drop.
pub(crate) struct Registry {
    /// `127.0.0.1:<port>`.
    pub(crate) host: String,
    pub(crate) mode: Mode,
    /// The private CA's PEM certificate (`Mode::Tls`).
    pub(crate) ca: Option<String>,
    /// What signs the registry's tokens (`Mode::Token`).
    pub(crate) signer: Option<Signer>,
    /// The storage root (the twin of a TLS registry shares it).
    data: PathBuf,
    bin: PathBuf,
    dir: TempDir,
    child: Child,
}

impl Registry {
    pub(crate) fn start(tools: &Tools, mode: Mode) -> Self {
        Self::serve(&tools.registry, &tools.htpasswd, mode, None)
    }

    /// A plain-HTTP registry serving the same storage: Helm talks plain HTTP to any loopback
    /// registry, so it pushes through this twin what the tests then read over TLS.
    fn twin(&self) -> Self {
        Self::serve(
            &self.bin,
            Path::new(""),
            Mode::Plain,
            Some(self.data.clone()),
        )
    }

    fn serve(bin: &Path, htpasswd_bin: &Path, mode: Mode, data: Option<PathBuf>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = data.unwrap_or_else(|| dir.path().join("data"));
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: oci-test\n",
            data.display()
        );
        let mut ca = None;
        if mode == Mode::Tls {
            let authority = Ca::new("oci test CA");
            let (cert, key) = authority.issue(&Leaf::server()).write(dir.path(), "server");
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            ca = Some(authority.cert);
        }
        if mode == Mode::Auth {
            let htpasswd = dir.path().join("htpasswd");
            // The password goes in on stdin, never on argv.
            let line = run_with_input(
                Command::new(htpasswd_bin).args(["-iBn", USER]),
                PASSWORD.as_bytes(),
            );
            std::fs::write(&htpasswd, line).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: oci-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let mut signer = None;
        if mode == Mode::Token {
            let bundle = dir.path().join("token.pem");
            let tokens = Signer::new(&bundle);
            let realm = token::serve(tokens.clone(), USER, PASSWORD);
            config += &token::registry_config(&realm, &bundle);
            signer = Some(tokens);
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Self {
            host: format!("127.0.0.1:{port}"),
            mode,
            ca,
            signer,
            data,
            bin: bin.to_path_buf(),
            dir,
            child,
        };
        registry.wait_listening();
        registry
    }

    fn wait_listening(&mut self) {
        for _ in 0..300 {
            if TcpStream::connect(&self.host).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry does not listen on {}: {}",
            self.host,
            self.log()
        );
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many requests the registry's access log shows for `method` and a path ending in
    /// `suffix`.
    pub(crate) fn requests(&self, method: &str, suffix: &str) -> usize {
        let needle = format!("\"{method} /v2/");
        self.log()
            .lines()
            .filter(|line| line.contains(&needle))
            .filter(|line| line.contains(&format!("{suffix} HTTP/")))
            .count()
    }

    /// The file the registry serves blob `digest` from.
    pub(crate) fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.data
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// A client that pushes with the registry's mode and credentials.
    fn pusher(&self) -> (Client, RegistryAuth) {
        let mut config = ClientConfig {
            protocol: if self.mode == Mode::Tls {
                ClientProtocol::Https
            } else {
                ClientProtocol::Http
            },
            ..ClientConfig::default()
        };
        if let Some(ca) = &self.ca {
            config.extra_root_certificates = vec![oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: ca.as_bytes().to_vec(),
            }];
        }
        let auth = if matches!(self.mode, Mode::Auth | Mode::Token) {
            RegistryAuth::Basic(USER.into(), PASSWORD.into())
        } else {
            RegistryAuth::Anonymous
        };
        (Client::try_from(config).unwrap(), auth)
    }

    /// Pushes a one-layer artifact to `repository:tag`; returns the manifest digest and the
    /// layer's digest.
    pub(crate) async fn push_artifact(
        &self,
        repository: &str,
        tag: &str,
        layer: &[u8],
        media_type: &str,
        annotations: &[(&str, &str)],
    ) -> (String, String) {
        let (client, auth) = self.pusher();
        let layers = [ImageLayer::new(
            layer.to_vec(),
            media_type.to_string(),
            None,
        )];
        let config = Config::new(
            b"{}".to_vec(),
            "application/vnd.oci.image.config.v1+json".to_string(),
            None,
        );
        let annotations: BTreeMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        let reference = Reference::with_tag(self.host.clone(), repository.into(), tag.into());
        client
            .push(&reference, &layers, config, &auth, Some(manifest))
            .await
            .unwrap();
        let digest = client
            .fetch_manifest_digest(&reference, &auth)
            .await
            .unwrap();
        (digest, layers[0].sha256_digest())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `helm` with its own home and registry login file.
pub(crate) struct Helm {
    bin: PathBuf,
    home: TempDir,
}

impl Helm {
    pub(crate) fn new(tools: &Tools) -> Self {
        Self {
            bin: tools.helm.clone(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self) -> Command {
        let home = self.home.path();
        let mut command = Command::new(&self.bin);
        command
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("HELM_REGISTRY_CONFIG", home.join("registry.json"));
        command
    }

    /// `helm package` of a one-template chart `name` at `version`: the archive's path.
    pub(crate) fn package(&self, name: &str, version: &str) -> PathBuf {
        let chart = self
            .home
            .path()
            .join("src")
            .join(format!("{name}-{version}"));
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(
            chart.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
        )
        .unwrap();
        let out = self.home.path().join("packages");
        run(self
            .command()
            .arg("package")
            .arg(&chart)
            .arg("-d")
            .arg(&out));
        out.join(format!("{name}-{version}.tgz"))
    }

    /// `helm registry login` (password on stdin) where the registry wants it, then `helm push
    /// --plain-http` of `archive` to `oci://<registry>/<path>` (through the plain twin of a TLS
    /// registry).
    pub(crate) fn push(&self, registry: &Registry, archive: &Path, path: &str) {
        if registry.mode == Mode::Tls {
            return self.push(&registry.twin(), archive, path);
        }
        if matches!(registry.mode, Mode::Auth | Mode::Token) {
            let mut login = self.command();
            login.args([
                "registry",
                "login",
                &registry.host,
                "--username",
                USER,
                "--password-stdin",
            ]);
            run_with_input(&mut login, PASSWORD.as_bytes());
        }
        let mut push = self.command();
        push.arg("push")
            .arg(archive)
            .arg(format!("oci://{}/{path}", registry.host))
            .arg("--plain-http");
        run(&mut push);
    }
}

/// A gzipped tar of `files`, made by `tar`.
pub(crate) fn tgz(tools: &Tools, files: &[(&str, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let archive = dir.path().join("out.tgz");
    let mut tar = Command::new(&tools.tar);
    tar.arg("czf").arg(&archive).arg("-C").arg(dir.path());
    tar.args(files.iter().map(|(name, _)| name));
    run(&mut tar);
    std::fs::read(archive).unwrap()
}

/// Settings for a fetcher with its store in `dir`; events go to `events`.
pub(crate) fn settings(dir: &Path, events: &Arc<Mutex<Vec<Event>>>) -> Settings {
    let events = events.clone();
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
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip".into(),
        ],
        timeout: Duration::from_secs(30),
        proxies: Proxies::default(),
        observer: Some(Observer::new(move |e: &Event| {
            events.lock().push(e.clone())
        })),
    }
}

fn run(command: &mut Command) -> Vec<u8> {
    run_with_input(command, b"")
}

fn run_with_input(command: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
