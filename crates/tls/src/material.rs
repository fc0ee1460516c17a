//! The files the server's TLS configuration is built from, in parts that reload on their own:
//! the serving pair (Secret `argocd-repo-server-tls`), the client CA and the client CRL (both
//! from `argocd-repo-server-mtls`, one file each). A part is read as one change and validated
//! as a whole before it is used; a broken part never holds back another.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{pem, Bundle, Crls, Error, ServingCert};

/// Where the material lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `None` when mTLS is switched off by configuration.
    pub client_ca: Option<PathBuf>,
    /// Revocation lists for client certificates; `None` turns revocation checking off.
    pub client_crl: Option<PathBuf>,
}

/// A part of the material that is validated and published on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// `tls.crt` and `tls.key`.
    Serving,
    /// The client-CA bundle.
    ClientCa,
    /// The client CRL file.
    ClientCrl,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Serving, Part::ClientCa, Part::ClientCrl];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Part::Serving => "serving",
            Part::ClientCa => "client_ca",
            Part::ClientCrl => "client_crl",
        }
    }
}

/// The bytes of one part's files at one moment (`None` for a file that does not exist).
#[derive(Debug, Clone)]
pub struct Contents {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    digest: [u8; 32],
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Files {
    /// Directories to watch: each file's parent (Kubernetes replaces Secret volume files by
    /// swapping a `..data` symlink in that directory, which a watch on the file misses).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Part::ALL
            .iter()
            .flat_map(|part| self.paths(*part))
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    fn paths(&self, part: Part) -> Vec<&Path> {
        match part {
            Part::Serving => vec![&self.cert, &self.key],
            Part::ClientCa => self.client_ca.as_deref().into_iter().collect(),
            Part::ClientCrl => self.client_crl.as_deref().into_iter().collect(),
        }
    }

    /// Reads the files of `part` (none when the part is not configured).
    pub fn read(&self, part: Part) -> Result<Contents, Error> {
        let mut hash = Sha256::new();
        let mut files = Vec::new();
        for path in self.paths(part) {
            let bytes = read(path)?;
            match &bytes {
                Some(bytes) => {
                    hash.update([1]);
                    hash.update((bytes.len() as u64).to_be_bytes());
                    hash.update(bytes);
                }
                None => hash.update([0]),
            }
            files.push((path.to_path_buf(), bytes));
        }
        Ok(Contents {
            files,
            digest: hash.finalize().into(),
        })
    }
}

impl Contents {
    /// Identifies the contents; equal digests mean nothing changed.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    fn file(&self, index: usize) -> Option<(&Path, &[u8])> {
        self.files
            .get(index)
            .and_then(|(path, bytes)| Some((path.as_path(), bytes.as_deref()?)))
    }

    /// Whether any file of the part exists.
    pub fn present(&self) -> bool {
        self.files.iter().any(|(_, bytes)| bytes.is_some())
    }

    /// Whether only one of certificate and key is present (serving part).
    pub fn serving_half(&self) -> bool {
        self.present() && self.files.iter().any(|(_, bytes)| bytes.is_none())
    }

    /// The mounted serving certificate, if both files are present (serving part).
    pub fn serving(&self) -> Result<Option<ServingCert>, Error> {
        let (Some((cert_path, cert)), Some((key_path, key))) = (self.file(0), self.file(1)) else {
            return Ok(None);
        };
        let chain = pem::parse_chain(cert, cert_path)?;
        let key = pem::parse_key(key, key_path)?;
        ServingCert::from_parts(chain, key, cert_path, key_path).map(Some)
    }

    /// The client-CA bundle, if its file is present (client CA part).
    pub fn bundle(&self) -> Result<Option<Bundle>, Error> {
        let Some((path, bytes)) = self.file(0) else {
            return Ok(None);
        };
        let certs = pem::parse_chain(bytes, path)?;
        Bundle::from_certs(path, certs).map(Some)
    }

    /// The revocation lists checked against `bundle`; `None` when the file is absent (CRL
    /// part).
    pub fn crls(&self, bundle: &Bundle) -> Result<Option<Crls>, Error> {
        let Some((path, bytes)) = self.file(0) else {
            return Ok(None);
        };
        Crls::parse(bytes, path, bundle).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_has_its_own_digest() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            client_ca: Some(dir.path().join("mtls/client-ca.crt")),
            client_crl: None,
        };
        let empty = files.read(Part::Serving).unwrap();
        assert!(!empty.present() && !empty.serving_half());
        std::fs::write(&files.cert, "a").unwrap();
        let half = files.read(Part::Serving).unwrap();
        assert!(half.serving_half());
        assert_ne!(empty.digest(), half.digest());
        assert_eq!(half.digest(), files.read(Part::Serving).unwrap().digest());
        let ca = files.read(Part::ClientCa).unwrap().digest();
        std::fs::write(&files.cert, "b").unwrap();
        assert_ne!(half.digest(), files.read(Part::Serving).unwrap().digest());
        assert_eq!(ca, files.read(Part::ClientCa).unwrap().digest());
        assert!(!files.read(Part::ClientCrl).unwrap().present());
        assert_eq!(
            files.dirs(),
            vec![dir.path().to_path_buf(), dir.path().join("mtls")]
        );
    }
}
