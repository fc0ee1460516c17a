//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use repo_certs::Init;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct Meta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Secret {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: Meta,
    #[serde(rename = "type")]
    pub secret_type: String,
    pub data: BTreeMap<String, String>,
}

impl Secret {
    pub(crate) fn keys(&self) -> Vec<&str> {
        self.data.keys().map(String::as_str).collect()
    }

    pub(crate) fn value(&self, key: &str) -> Vec<u8> {
        STANDARD.decode(&self.data[key]).unwrap()
    }

    /// Writes the Secret as kubelet would mount it: one file per key.
    pub(crate) fn mount(&self, dir: &Path) -> PathBuf {
        let dir = dir.join(&self.metadata.name);
        std::fs::create_dir_all(&dir).unwrap();
        for key in self.data.keys() {
            std::fs::write(dir.join(key), self.value(key)).unwrap();
        }
        dir
    }
}

pub(crate) fn secrets(path: &Path) -> Vec<Secret> {
    let yaml = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple(&yaml).unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", path.display()))
}

pub(crate) fn find<'a>(secrets: &'a [Secret], name: &str) -> &'a Secret {
    secrets
        .iter()
        .find(|s| s.metadata.name == name)
        .unwrap_or_else(|| panic!("no Secret {name}"))
}

/// `init` into `dir/out` with the defaults.
pub(crate) fn init(dir: &Path) -> PathBuf {
    let out = dir.join("out");
    repo_certs::init(&Init::new(&out)).unwrap();
    out
}

/// The shared layout's Secrets, mounted as directories: (mtls, tls).
pub(crate) fn mounted(dir: &Path) -> (PathBuf, PathBuf) {
    let out = init(dir);
    let all = secrets(&out.join("secrets.yaml"));
    let mounts = dir.join("mounts");
    (
        find(&all, "argocd-repo-server-mtls").mount(&mounts),
        find(&all, "argocd-repo-server-tls").mount(&mounts),
    )
}
