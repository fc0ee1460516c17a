//! A component's client identity read from `client.crt`/`client.key`, re-read when either
//! file's modification time changes (Kubernetes swaps Secret volumes by symlink, which changes
//! the resolved mtime), presented when the certificate file exists and skipped when it does not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::serving::certified_key;
use crate::{pem, Error};

#[derive(Debug)]
struct Loaded {
    mtimes: (SystemTime, SystemTime),
    key: Arc<CertifiedKey>,
}

/// A client certificate and key on disk.
#[derive(Debug)]
pub struct FileIdentity {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

fn mtime(path: &Path) -> Result<Option<SystemTime>, Error> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl FileIdentity {
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            loaded: Mutex::new(None),
        }
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The identity to present now: `None` when the certificate file does not exist, an error
    /// when it exists but the key is missing or either file is unreadable or invalid (a broken
    /// rotation is reported, never papered over with the old certificate).
    pub fn current(&self) -> Result<Option<Arc<CertifiedKey>>, Error> {
        let Some(cert_mtime) = mtime(&self.cert)? else {
            if self.loaded.lock().take().is_some() {
                tracing::info!(file = %self.cert.display(), "Client cert file no longer exists; presenting no client certificate");
            }
            return Ok(None);
        };
        let key_mtime = mtime(&self.key)?.ok_or_else(|| Error::Read {
            path: self.key.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("client key missing while {} exists", self.cert.display()),
            ),
        })?;
        let mtimes = (cert_mtime, key_mtime);
        let mut loaded = self.loaded.lock();
        if let Some(current) = loaded.as_ref().filter(|l| l.mtimes == mtimes) {
            return Ok(Some(current.key.clone()));
        }
        let chain = pem::read_chain(&self.cert)?;
        let key = certified_key(chain, pem::read_key(&self.key)?, &self.cert, &self.key)?;
        tracing::info!(file = %self.cert.display(), "Client certificate reloaded from {} (mtime changed)", self.cert.display());
        *loaded = Some(Loaded {
            mtimes,
            key: key.clone(),
        });
        Ok(Some(key))
    }
}

impl ResolvesClientCert for FileIdentity {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        match self.current() {
            Ok(key) => key,
            Err(err) => {
                tracing::error!(error = %err, "Cannot load the client certificate; connecting without one");
                None
            }
        }
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// An identity held in memory (the health probe's).
#[derive(Debug)]
pub struct StaticIdentity(pub Arc<CertifiedKey>);

impl ResolvesClientCert for StaticIdentity {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (dir.join("client.crt"), dir.join("client.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn bump(path: &Path) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
    }

    #[test]
    fn absent_certificate_is_skipped_then_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let id = FileIdentity::new(dir.path().join("client.crt"), dir.path().join("client.key"));
        assert!(id.current().unwrap().is_none());
        write_pair(dir.path(), "a");
        assert!(id.current().unwrap().is_some());
    }

    #[test]
    fn reloads_on_mtime_change_and_caches_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _) = write_pair(dir.path(), "first");
        let id = FileIdentity::new(&c, dir.path().join("client.key"));
        let first = id.current().unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &id.current().unwrap().unwrap()));
        write_pair(dir.path(), "second");
        bump(&c);
        let second = id.current().unwrap().unwrap();
        assert_ne!(first.cert[0], second.cert[0]);
    }

    #[test]
    fn corrupt_rotation_is_an_error_not_the_stale_cert() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = write_pair(dir.path(), "a");
        let id = FileIdentity::new(&c, &k);
        id.current().unwrap();
        std::fs::write(&c, "garbage").unwrap();
        bump(&c);
        let err = id.current().unwrap_err().to_string();
        assert!(err.contains("client.crt"), "{err}");
    }

    #[test]
    fn missing_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = write_pair(dir.path(), "a");
        std::fs::remove_file(&k).unwrap();
        let err = FileIdentity::new(&c, &k).current().unwrap_err().to_string();
        assert!(err.contains("client.key"), "{err}");
    }

    #[test]
    fn mismatched_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = write_pair(dir.path(), "a");
        std::fs::write(&k, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let err = FileIdentity::new(&c, &k).current().unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
    }
}
