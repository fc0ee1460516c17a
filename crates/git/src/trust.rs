//! Extra CAs for git over HTTPS, from `argocd-tls-certs-cm` mounted at `ARGOCD_TLS_DATA_PATH`:
//! the PEM file `<dir>/<host>` (the same naming as the Helm/OCI fetcher). git's `http.sslCAInfo`
//! replaces its CA list, so git gets a bundle of the system roots plus that file, written once
//! per version of the file into a private directory and rebuilt when the file changes (a
//! ConfigMap update swaps it), so no restart is needed.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use parking_lot::Mutex;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tempfile::TempDir;

pub(crate) struct Trust {
    /// `ARGOCD_TLS_DATA_PATH`.
    dir: PathBuf,
    scratch: PathBuf,
    /// Where bundles are written, made for the first one; removed with the cache.
    out: Mutex<Option<TempDir>>,
    bundles: Mutex<HashMap<String, Arc<Bundle>>>,
    written: AtomicU64,
}

/// One bundle file; removed when the last command using it is done and a newer one replaced it.
#[derive(Debug)]
pub(crate) struct Bundle {
    pub(crate) path: PathBuf,
    /// The CA file it was built from, for messages.
    pub(crate) source: PathBuf,
    stamp: Stamp,
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What changes when the file does: kubelet swaps in a new file, an editor rewrites it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl Trust {
    /// `dir` is `ARGOCD_TLS_DATA_PATH`; bundles go to a private directory in `scratch`.
    pub(crate) fn new(dir: PathBuf, scratch: &Path) -> Self {
        Self {
            dir,
            scratch: scratch.to_path_buf(),
            out: Mutex::default(),
            bundles: Mutex::default(),
            written: AtomicU64::new(0),
        }
    }

    fn out(&self) -> io::Result<PathBuf> {
        let mut out = self.out.lock();
        if out.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("trust-")
                .tempdir_in(&self.scratch)?;
            *out = Some(dir);
        }
        Ok(out
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default())
    }

    /// Where the CA file of `host` is read from.
    pub(crate) fn file(&self, host: &str) -> PathBuf {
        self.dir.join(host)
    }

    /// The bundle git verifies `host` with, `None` without a CA file for it (system roots only).
    /// Blocking: it reads and writes files.
    pub(crate) fn bundle(&self, host: &str) -> Result<Option<Arc<Bundle>>, String> {
        let source = self.file(host);
        let stamp = match std::fs::metadata(&source) {
            Ok(meta) if meta.is_file() => Stamp::of(&meta),
            _ => {
                self.bundles.lock().remove(host);
                return Ok(None);
            }
        };
        if let Some(bundle) = self.bundles.lock().get(host).filter(|b| b.stamp == stamp) {
            return Ok(Some(bundle.clone()));
        }
        let bad = |e: &dyn std::fmt::Display| {
            format!(
                "the CA file of argocd-tls-certs-cm for {host} ({}): {e}",
                source.display()
            )
        };
        let text = std::fs::read(&source).map_err(|e| bad(&e))?;
        let extra = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        if extra.is_empty() {
            return Err(bad(&"no PEM certificate in it"));
        }
        let mut pem = system_roots().to_string();
        for cert in &extra {
            pem.push_str(&encode(cert));
        }
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let path = self
            .out()
            .map(|dir| dir.join(format!("{n}.pem")))
            .and_then(|path| write(&path, pem.as_bytes()).map(|()| path))
            .map_err(|e| bad(&format!("cannot write the bundle: {e}")))?;
        let bundle = Arc::new(Bundle {
            path,
            source,
            stamp,
        });
        self.bundles.lock().insert(host.to_string(), bundle.clone());
        Ok(Some(bundle))
    }
}

fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::File::create_new(path)?;
    file.write_all(bytes)
}

/// The system's CA roots as PEM, read once (the same roots the Helm/OCI fetcher trusts).
fn system_roots() -> &'static str {
    static ROOTS: OnceLock<String> = OnceLock::new();
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .map(encode)
            .collect()
    })
}

fn encode(cert: &CertificateDer<'_>) -> String {
    let b64 = STANDARD.encode(cert.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(path: &Path) -> usize {
        let text = std::fs::read(path).unwrap();
        CertificateDer::pem_slice_iter(&text).count()
    }

    #[test]
    fn bundle_adds_the_host_file_to_the_system_roots_and_follows_changes() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        std::fs::create_dir(&tls).unwrap();
        let trust = Trust::new(tls.clone(), dir.path());
        assert!(trust.bundle("git.example").unwrap().is_none());

        let roots = system_roots();
        let system = CertificateDer::pem_slice_iter(roots.as_bytes()).count();
        // Any certificate does: a system root stands in for a private CA.
        let one = roots.split_inclusive("-----END CERTIFICATE-----\n").next();
        let one = one.unwrap_or_default();
        if one.is_empty() {
            eprintln!("skipping: no system CA roots on this machine");
            return;
        }
        std::fs::write(tls.join("git.example"), one).unwrap();
        let first = trust.bundle("git.example").unwrap().unwrap();
        assert_eq!(count(&first.path), system + 1);
        let again = trust.bundle("git.example").unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "an unchanged file is not rebuilt"
        );

        std::fs::write(tls.join("git.example.new"), format!("{one}{one}")).unwrap();
        std::fs::rename(tls.join("git.example.new"), tls.join("git.example")).unwrap();
        let second = trust.bundle("git.example").unwrap().unwrap();
        assert_eq!(count(&second.path), system + 2);
        // In use by a running command: kept until it is done.
        assert!(first.path.exists());
        let old = first.path.clone();
        drop((first, again));
        assert!(!old.exists(), "a replaced bundle is removed once unused");

        std::fs::write(tls.join("git.example"), "not a certificate").unwrap();
        let err = trust.bundle("git.example").unwrap_err();
        assert!(
            err.contains("argocd-tls-certs-cm") && err.contains("git.example"),
            "{err}"
        );
        std::fs::remove_file(tls.join("git.example")).unwrap();
        assert!(trust.bundle("git.example").unwrap().is_none());
    }
}
