//! Certificate sets for the systems under test, generated per run (never checked in).

use std::path::{Path, PathBuf};

use repo_testkit::{Ca, Leaf};

/// A directory holding `ca.crt`, `server.{crt,key}` and `client.{crt,key}`.
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// ECDSA P-256 throughout, from rcgen; returns the CA too, to issue rotations.
    pub(crate) fn p256(dir: &Path) -> (Self, Ca) {
        std::fs::create_dir_all(dir).unwrap();
        let ca = Ca::new("bench-ca");
        std::fs::write(dir.join("ca.crt"), &ca.cert).unwrap();
        ca.issue(&Leaf::server()).write(dir, "server");
        ca.issue(&Leaf::client("argocd-application-controller"))
            .write(dir, "client");
        (Self { dir: dir.into() }, ca)
    }

    /// The article's openssl recipe: RSA-2048, X.509 v1 leaves.
    pub(crate) fn rsa_recipe(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        repo_testkit::openssl_recipe(dir);
        Self { dir: dir.into() }
    }

    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub(crate) fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }
    pub(crate) fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    pub(crate) fn client_cert(&self) -> PathBuf {
        self.dir.join("client.crt")
    }
    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }
}
