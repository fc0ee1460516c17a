//! The GnuPG keyring signatures are verified against: the public keys mounted from the
//! `argocd-gpg-keys-cm` ConfigMap (`ARGOCD_GPG_DATA_PATH`, one file per key named by its
//! 16-hex key ID, as upstream), imported into a private `GNUPGHOME` under `ARGOCD_GNUPGHOME`
//! and ultimately trusted, as upstream's `SyncKeyRingFromDirectory` leaves them.
//!
//! Instead of syncing one keyring in place, each distinct set of key files gets a fresh
//! keyring (a *generation*), swapped in once complete: a verification never sees a keyring
//! half updated, and a key removed from the ConfigMap is gone from the next verification on.
//! The mounted directory is read again on every verification (a few small files, on the
//! blocking pool), so a ConfigMap change takes effect without a restart or a watcher.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Upstream's default `ARGOCD_GPG_DATA_PATH`.
pub const DEFAULT_SOURCE: &str = "/app/config/gpg/source";
/// Upstream's default `ARGOCD_GNUPGHOME`.
pub const DEFAULT_HOME: &str = "/app/config/gpg/keys";

/// Bound on one gpg run (imports and verifications of local files).
const GPG_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a key file: public keys are a few KiB.
const KEY_FILE_LIMIT: u64 = 1 << 20;
/// Prefix of the generations this process creates (and removes at start).
const PREFIX: &str = "ring-";
/// Signatures verified are reused this long with the same keyring (a key can expire since).
const SEEN_TTL: Duration = Duration::from_secs(600);
/// Bound on the signatures remembered; the whole memo is dropped when it is reached.
const SEEN_LIMIT: usize = 4096;

/// What a verification is remembered by: the keyring generation, the repository (normalized
/// URL), the commit, the tag and whether the history was walked.
pub(crate) type Seen = (PathBuf, String, String, Option<String>, bool);

/// One complete keyring: a `GNUPGHOME` directory, used read-only by verifications.
#[derive(Debug)]
pub struct Ring {
    path: PathBuf,
    /// The gpg program (git runs the same one, as `gpg.program`).
    program: PathBuf,
    /// Key IDs (16 hex) of the files imported, for logs.
    keys: Vec<String>,
}

impl Ring {
    /// The `GNUPGHOME` to verify with.
    pub fn home(&self) -> &Path {
        &self.path
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub(crate) fn program(&self) -> &Path {
        &self.program
    }
}

#[derive(Default)]
struct State {
    /// `home` exists and holds no generation of an earlier process.
    prepared: bool,
    /// Digest of the key files the current generation was built from.
    digest: Option<[u8; 32]>,
    current: Option<Arc<Ring>>,
    /// Replaced generations, removed once no verification holds them.
    retired: Vec<Arc<Ring>>,
}

/// The keyring, rebuilt when the mounted key files change.
pub struct Keyring {
    source: PathBuf,
    home: PathBuf,
    program: PathBuf,
    state: tokio::sync::Mutex<State>,
    /// Signatures already verified: many applications of one commit cost one verification.
    seen: parking_lot::Mutex<HashMap<Seen, (Instant, crate::Signatures)>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// `source` holds the key files (`ARGOCD_GPG_DATA_PATH`), `home` the keyrings
    /// (`ARGOCD_GNUPGHOME`, an emptyDir upstream). Nothing is touched until the first
    /// verification, which fails (closed) if `home` cannot be prepared.
    pub fn new(source: PathBuf, home: PathBuf) -> Self {
        Self {
            source,
            home,
            program: "gpg".into(),
            state: tokio::sync::Mutex::new(State::default()),
            seen: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Runs `program` instead of `gpg` found on `PATH`.
    pub fn with_gpg(mut self, program: PathBuf) -> Self {
        self.program = program;
        self
    }

    /// The keyring for the key files mounted now, built first if they changed.
    pub async fn ring(&self) -> Result<Arc<Ring>, String> {
        let source = self.source.clone();
        let files = tokio::task::spawn_blocking(move || read_keys(&source))
            .await
            .map_err(|e| format!("reading the GnuPG key files: {e}"))??;
        let digest = digest(&files);
        let mut state = self.state.lock().await;
        if let (Some(held), Some(ring)) = (state.digest, &state.current) {
            if held == digest {
                return Ok(ring.clone());
            }
        }
        if !state.prepared {
            let home = self.home.clone();
            tokio::task::spawn_blocking(move || prepare(&home))
                .await
                .map_err(|e| e.to_string())??;
            state.prepared = true;
        }
        let ring = Arc::new(self.build(files).await?);
        tracing::info!(keys = ?ring.keys, "GnuPG keyring loaded from {}", self.source.display());
        if let Some(old) = state.current.replace(ring.clone()) {
            state.retired.push(old);
        }
        state.digest = Some(digest);
        // Generations no verification holds any more go now.
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.retired)
            .into_iter()
            .partition(|r| Arc::strong_count(r) == 1);
        state.retired = kept;
        let paths: Vec<PathBuf> = gone.iter().map(|r| r.path.clone()).collect();
        drop(gone);
        let _ = tokio::task::spawn_blocking(move || {
            for path in paths {
                let _ = std::fs::remove_dir_all(path);
            }
        })
        .await;
        Ok(ring)
    }

    pub(crate) fn recall(&self, seen: &Seen) -> Option<crate::Signatures> {
        let memo = self.seen.lock();
        let (at, signatures) = memo.get(seen)?;
        (at.elapsed() < SEEN_TTL).then(|| signatures.clone())
    }

    pub(crate) fn remember(&self, seen: Seen, signatures: &crate::Signatures) {
        let mut memo = self.seen.lock();
        if memo.len() >= SEEN_LIMIT {
            memo.clear();
        }
        memo.insert(seen, (Instant::now(), signatures.clone()));
    }

    async fn build(&self, files: Vec<(String, Vec<u8>)>) -> Result<Ring, String> {
        let home = self.home.clone();
        let dir = tokio::task::spawn_blocking(move || {
            tempfile::Builder::new()
                .prefix(PREFIX)
                .tempdir_in(&home)
                .map(tempfile::TempDir::keep)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("ARGOCD_GNUPGHOME {}: {e}", self.home.display()))?;
        let built = import(&self.program, &dir, &files).await;
        if built.is_err() {
            let path = dir.clone();
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(path)).await;
        }
        let keys = built?;
        Ok(Ring {
            path: dir,
            program: self.program.clone(),
            keys,
        })
    }
}

/// Creates `home` and removes the generations an earlier process left there.
fn prepare(home: &Path) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("ARGOCD_GNUPGHOME {}: {e}", home.display());
    std::fs::create_dir_all(home).map_err(failed)?;
    for entry in std::fs::read_dir(home).map_err(failed)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with(PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Imports each key file (a file that holds no key is skipped with a warning, as a key that
/// is not in the keyring only fails the signatures it made) and trusts the imported keys
/// ultimately, as upstream.
async fn import(
    program: &Path,
    home: &Path,
    files: &[(String, Vec<u8>)],
) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut fingerprints = String::new();
    for (name, data) in files {
        let out = gpg(
            program,
            home,
            &[
                "--import",
                "--import-options",
                "import-show",
                "--with-colons",
            ],
            data,
        )
        .await?;
        let found = primaries(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() || found.is_empty() {
            tracing::warn!(
                file = %name,
                "GnuPG key file holds no importable public key: {}",
                last_line(&out.stderr)
            );
            continue;
        }
        for fpr in found {
            fingerprints.push_str(&fpr);
            fingerprints.push_str(":6:\n");
        }
        keys.push(name.clone());
    }
    // Always run: it also proves gpg works before any verification relies on it. The trust
    // database is brought up to date now, as upstream, so that verifications do not do it
    // (its messages would land in the middle of their output).
    for (args, input) in [
        (&["--import-ownertrust"][..], fingerprints.as_bytes()),
        (&["--update-trustdb"][..], &b""[..]),
    ] {
        let out = gpg(program, home, args, input).await?;
        if !out.status.success() {
            return Err(format!(
                "gpg {} failed: {}",
                args[0],
                last_line(&out.stderr)
            ));
        }
    }
    Ok(keys)
}

/// Fingerprints of the primary keys in gpg's `--with-colons` listing (the `fpr` record right
/// after each `pub` record; those after `sub` records are subkeys').
fn primaries(colons: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut primary = false;
    for line in colons.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first() {
            Some(&"pub") => primary = true,
            Some(&"fpr") if primary => {
                primary = false;
                out.extend(fields.get(9).map(|f| f.to_string()));
            }
            _ => primary = false,
        }
    }
    out
}

/// The key files of `source`: entries named by a 16-hex key ID (as upstream; a ConfigMap's
/// `..data` entries are skipped), sorted by name. A missing directory holds no keys.
fn read_keys(source: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let entries = match std::fs::read_dir(source) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("ARGOCD_GPG_DATA_PATH {}: {e}", source.display())),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_key_id(&name) {
            continue;
        }
        use std::io::Read;
        let mut data = Vec::new();
        std::fs::File::open(entry.path())
            .and_then(|f| f.take(KEY_FILE_LIMIT).read_to_end(&mut data))
            .map_err(|e| format!("GnuPG key file {}: {e}", entry.path().display()))?;
        files.push((name, data));
    }
    files.sort();
    Ok(files)
}

fn digest(files: &[(String, Vec<u8>)]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for (name, data) in files {
        hash.update((name.len() as u64).to_be_bytes());
        hash.update(name.as_bytes());
        hash.update((data.len() as u64).to_be_bytes());
        hash.update(data);
    }
    hash.finalize().into()
}

/// A short (16 hex) key ID, as upstream's `IsShortKeyID`.
pub(crate) fn is_key_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Runs gpg on `home` with `input` on stdin: a cleared environment (C locale, so that the
/// human-readable output is upstream's), no agent, no tty, bounded in time.
pub(crate) async fn gpg(
    program: &Path,
    home: &Path,
    args: &[&str],
    input: &[u8],
) -> Result<std::process::Output, String> {
    use tokio::io::AsyncWriteExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut child = tokio::process::Command::new(program)
        .env_clear()
        .env("PATH", path)
        .env("GNUPGHOME", home)
        .env("LC_ALL", "C")
        .env("LANGUAGE", "C")
        .args([
            "--batch",
            "--no-tty",
            "--no-autostart",
            "--no-permission-warning",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {} ({e}): install GnuPG (Debian package gnupg) or set ARGOCD_GPG_ENABLED=false",
                program.display()
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
    }
    match tokio::time::timeout(GPG_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => out.map_err(|e| format!("gpg: {e}")),
        Err(_) => Err(format!("gpg timed out after {GPG_TIMEOUT:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_named_by_short_key_id() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("D56C4FCA57A46444"), "key").unwrap();
        std::fs::write(dir.path().join("..data"), "x").unwrap();
        std::fs::write(dir.path().join("README"), "x").unwrap();
        let files = read_keys(dir.path()).unwrap();
        assert_eq!(files, [("D56C4FCA57A46444".to_string(), b"key".to_vec())]);
        assert!(read_keys(&dir.path().join("absent")).unwrap().is_empty());
        let other = [("D56C4FCA57A46444".to_string(), b"kez".to_vec())];
        assert_ne!(digest(&files), digest(&other));
    }
}
