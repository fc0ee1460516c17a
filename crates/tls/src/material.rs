//! The set of files the server's TLS configuration is built from, read together so that a
//! rotation is seen as one change and validated as a whole before it is used.

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

/// The bytes of every file at one moment (`None` for a file that does not exist).
#[derive(Debug, Clone)]
pub struct Contents {
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    client_ca: Option<Vec<u8>>,
    client_crl: Option<Vec<u8>>,
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
        let mut dirs: Vec<PathBuf> = [
            Some(&self.cert),
            Some(&self.key),
            self.client_ca.as_ref(),
            self.client_crl.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    pub fn read(&self) -> Result<Contents, Error> {
        let cert = read(&self.cert)?;
        let key = read(&self.key)?;
        let client_ca = self.client_ca.as_deref().map(read).transpose()?.flatten();
        let client_crl = self.client_crl.as_deref().map(read).transpose()?.flatten();
        let mut hash = Sha256::new();
        for part in [&cert, &key, &client_ca, &client_crl] {
            match part {
                Some(bytes) => {
                    hash.update([1]);
                    hash.update((bytes.len() as u64).to_be_bytes());
                    hash.update(bytes);
                }
                None => hash.update([0]),
            }
        }
        Ok(Contents {
            cert,
            key,
            client_ca,
            client_crl,
            digest: hash.finalize().into(),
        })
    }
}

impl Contents {
    /// Identifies the contents; equal digests mean nothing changed.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Whether both the certificate and the key are present.
    pub fn has_serving(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }

    /// Whether only one of certificate and key is present.
    pub fn serving_half(&self) -> bool {
        self.cert.is_some() != self.key.is_some()
    }

    /// The mounted serving certificate, if both files are present.
    pub fn serving(&self, files: &Files) -> Result<Option<ServingCert>, Error> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return Ok(None);
        };
        let chain = pem::parse_chain(cert, &files.cert)?;
        let key = pem::parse_key(key, &files.key)?;
        ServingCert::from_parts(chain, key, &files.cert, &files.key).map(Some)
    }

    /// The revocation lists, checked against `bundle`; empty when the file is absent.
    pub fn crls(&self, files: &Files, bundle: &Bundle) -> Result<Crls, Error> {
        match (&self.client_crl, &files.client_crl) {
            (Some(bytes), Some(path)) => Crls::parse(bytes, path, bundle),
            _ => Ok(Crls::default()),
        }
    }

    /// Whether a CRL file is present.
    pub fn has_crl(&self) -> bool {
        self.client_crl.is_some()
    }

    /// The client-CA bundle, if its file is present.
    pub fn bundle(&self, files: &Files) -> Result<Option<Bundle>, Error> {
        match (&self.client_ca, &files.client_ca) {
            (Some(bytes), Some(path)) => {
                let certs = pem::parse_chain(bytes, path)?;
                Bundle::from_certs(path, certs).map(Some)
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_tracks_content_and_presence() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            client_ca: Some(dir.path().join("mtls/client-ca.crt")),
            client_crl: None,
        };
        let empty = files.read().unwrap();
        assert!(!empty.has_serving() && !empty.serving_half());
        std::fs::write(&files.cert, "a").unwrap();
        let half = files.read().unwrap();
        assert!(half.serving_half());
        assert_ne!(empty.digest(), half.digest());
        assert_eq!(half.digest(), files.read().unwrap().digest());
        std::fs::write(&files.cert, "b").unwrap();
        assert_ne!(half.digest(), files.read().unwrap().digest());
        assert_eq!(
            files.dirs(),
            vec![dir.path().to_path_buf(), dir.path().join("mtls")]
        );
    }
}
