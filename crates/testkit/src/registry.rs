//! A real OCI registry (CNCF distribution, Debian's `docker-registry`) on 127.0.0.1 with a temp
//! config: anonymous, htpasswd, TLS from a private CA, or token auth; charts pushed with the
//! real `helm`, native artifacts pushed with oci-client.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tempfile::TempDir;

use crate::helm::run;
use crate::{Ca, Helm, Leaf};

/// The user the htpasswd and token registries know.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "wonderland-7";
/// The layer media type of a gzipped tar artifact.
pub const TGZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The programs a registry test runs.
pub struct Tools {
    pub registry: PathBuf,
    pub helm: PathBuf,
    pub htpasswd: PathBuf,
}

impl Tools {
    /// The tools, or `None` (the reason printed) when one is missing outside CI; under
    /// `CI=true` a missing tool fails the test.
    pub fn find() -> Option<Self> {
        let [registry, helm, htpasswd] = crate::tools(["docker-registry", "helm", "htpasswd"])?;
        Some(Self {
            registry,
            helm,
            htpasswd,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP, anonymous.
    Plain,
    /// Plain HTTP, htpasswd (bcrypt) Basic auth for [`USER`].
    Auth,
    /// HTTPS with a certificate from a private CA, anonymous.
    Tls,
    /// Plain HTTP, distribution token auth (see [`Registry::token`]).
    Token,
}

/// A running registry, stopped on drop.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    pub mode: Mode,
    /// The private CA's PEM certificate (`Mode::Tls`).
    pub ca: Option<String>,
    /// The storage root (the twin of a TLS registry shares it).
    data: PathBuf,
    bin: PathBuf,
    dir: TempDir,
    child: Child,
}

impl Registry {
    /// A registry in `mode` (not `Mode::Token`: see [`Registry::token`]).
    pub fn start(tools: &Tools, mode: Mode) -> Self {
        assert_ne!(mode, Mode::Token, "a token registry needs its auth section");
        Self::serve(&tools.registry, &tools.htpasswd, mode, None, "")
    }

    /// A registry in token-auth mode; `auth` is its `auth:` configuration section (the token
    /// server's realm, service, issuer, root certificate bundle).
    pub fn token(tools: &Tools, auth: &str) -> Self {
        Self::serve(&tools.registry, &tools.htpasswd, Mode::Token, None, auth)
    }

    /// A plain-HTTP registry serving the same storage: Helm talks plain HTTP to any loopback
    /// registry, so it pushes through this twin what the tests then read over TLS.
    fn twin(&self) -> Self {
        Self::serve(
            &self.bin,
            Path::new(""),
            Mode::Plain,
            Some(self.data.clone()),
            "",
        )
    }

    fn serve(bin: &Path, htpasswd: &Path, mode: Mode, data: Option<PathBuf>, auth: &str) -> Self {
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
            let file = dir.path().join("htpasswd");
            // The password goes in on stdin, never on argv.
            let line = run(
                Command::new(htpasswd).args(["-iBn", USER]),
                PASSWORD.as_bytes(),
            );
            std::fs::write(&file, line).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: oci-test\n    path: {}\n",
                file.display()
            );
        }
        config += auth;
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
            data,
            bin: bin.to_path_buf(),
            dir,
            child,
        };
        registry.wait_listening();
        registry
    }

    /// The registry opens its port some time after it starts; nothing tells when.
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many requests the registry's access log shows for `method` and a path ending in
    /// `suffix`.
    pub fn requests(&self, method: &str, suffix: &str) -> usize {
        let request = format!("\"{method} /v2/");
        let path_end = format!("{suffix} HTTP/");
        self.log()
            .lines()
            .filter(|line| line.contains(&request) && line.contains(&path_end))
            .count()
    }

    /// The file the registry serves blob `digest` from.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.data
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `helm push` of the chart `archive` to `oci://<host>/<path>`, logged in where the
    /// registry wants it (through the plain twin of a TLS registry).
    pub fn push_chart(&self, helm: &Helm, archive: &Path, path: &str) {
        if self.mode == Mode::Tls {
            return self.twin().push_chart(helm, archive, path);
        }
        if matches!(self.mode, Mode::Auth | Mode::Token) {
            helm.login(&self.host, USER, PASSWORD);
        }
        helm.push(archive, &self.host, path);
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
    pub async fn push_artifact(
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

/// A gzipped tar of `files` (name, text), regular files with mode 0644.
pub fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, text.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}
