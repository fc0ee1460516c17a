//! Content roots of sources that are not git: a chart from a Helm repository or an OCI
//! registry, or an OCI artifact. The fetcher keeps the archives (content-addressed); here each
//! archive is unpacked once, by the renderer's confined unpacker, into a read-only directory
//! named by its digest and shared by every request that reads it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use repo_fetch::{Blob, Fetcher, Image, Layers};
use repo_source::{Helm, Oci, Registry, Repo, Source};

use super::{blocking, Error};
use crate::metrics::{Metrics, OciFailure};

/// Unpacked archives kept at once (besides their byte budget, [`Caps::kept_bytes`]); the
/// least recently used beyond this are removed once no request reads them any more.
const KEPT: usize = 64;

/// The layer media type of a Helm chart (upstream's `helmOCILayerType`).
const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// An unpacked archive; removed from disk when the last reader drops it after eviction.
pub(super) struct Dir {
    path: PathBuf,
    /// Bytes unpacked (zero for a view into another directory).
    bytes: u64,
    evicted: AtomicBool,
    /// The unpacked archive this directory is inside, held so it stays on disk while read.
    _within: Option<Arc<Dir>>,
}

impl Dir {
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if *self.evicted.get_mut() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Caps on unpacked archives: `None` when the operator disabled the cap.
#[derive(Clone, Copy)]
pub(super) struct Caps {
    /// `--helm-manifest-max-extracted-size`.
    pub(super) helm: Option<u64>,
    /// `--oci-manifest-max-extracted-size`.
    pub(super) oci: Option<u64>,
    /// Bytes of unpacked archives kept at once (the least recently used beyond it are
    /// removed once no request reads them).
    pub(super) kept_bytes: u64,
}

pub(super) struct Sources {
    fetcher: Fetcher,
    /// Where archives are unpacked (`<digest hex>`); wiped at start.
    dir: PathBuf,
    caps: Caps,
    /// Unpacked archives by digest, in use order (last = most recent), and the per-digest
    /// locks that make one unpack per archive however many requests ask.
    kept: Mutex<Vec<(String, Arc<Dir>)>>,
    unpacking: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Makes each unpacked directory's name unique: an evicted one may still be read.
    unpacks: AtomicU64,
    /// Upstream's `argocd_oci_*_fail_total` counters.
    metrics: Arc<Metrics>,
}

impl Sources {
    pub(super) fn new(
        fetcher: Fetcher,
        dir: PathBuf,
        caps: Caps,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            fetcher,
            dir,
            caps,
            kept: Mutex::new(Vec::new()),
            unpacking: Mutex::new(HashMap::new()),
            unpacks: AtomicU64::new(0),
            metrics,
        })
    }

    pub(super) fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The concrete revision a Helm or OCI source names: the chart version a constraint picks,
    /// or the digest of an OCI tag.
    pub(super) async fn revision(&self, source: &Source, fresh: bool) -> Result<String, Error> {
        let f = &self.fetcher;
        let revision = match source {
            Source::Helm(helm) => match helm.registry {
                Registry::Index => {
                    f.chart_version(
                        &helm.repo,
                        helm.chart.as_str(),
                        helm.version.as_str(),
                        fresh,
                    )
                    .await?
                }
                // A version is a pin, used without listing the tags (as upstream).
                Registry::Oci { .. }
                    if repo_source::semver::version(helm.version.as_str()).is_some() =>
                {
                    helm.version.as_str().to_string()
                }
                Registry::Oci { plain_http } => {
                    let image = chart_image(helm, plain_http);
                    let tags = f.tags(&image, fresh).await?;
                    repo_source::semver::max_version(
                        helm.version.as_str(),
                        tags.iter().map(String::as_str),
                    )
                    .map_err(|e| {
                        let text =
                            format!("{}: chart {}: {e}", helm.repo.url(), helm.chart.as_str());
                        // As for a Helm repository's index: no match is missing, anything
                        // else a request that can never be met.
                        Error::Fetch(match e {
                            repo_source::semver::NoVersion::NoMatch(_) => {
                                repo_fetch::Error::NotFound(text)
                            }
                            repo_source::semver::NoVersion::Invalid(_) => {
                                repo_fetch::Error::Invalid(text)
                            }
                        })
                    })?
                }
            },
            Source::Oci(oci) => {
                let image = artifact_image(oci);
                let resolved = f.resolve(&image, oci.revision.as_str(), fresh);
                resolved.await.inspect_err(|_| {
                    let revision = oci.revision.as_str();
                    (self.metrics.fetches).oci_failed(
                        OciFailure::Resolve,
                        oci.repo.url(),
                        revision,
                    );
                })?
            }
            Source::Git(_) => {
                return Err(Error::internal(
                    "fetched sources",
                    "a git source has no fetched revision",
                ))
            }
        };
        Ok(revision)
    }

    /// Proves that the request's credentials may read `source` at `revision` before anything
    /// cached for it (rendered manifests) is served: the index, tag or manifest is read with
    /// these credentials, or found in a cache keyed by them.
    pub(super) async fn authorize(&self, source: &Source, revision: &str) -> Result<(), Error> {
        let f = &self.fetcher;
        match source {
            Source::Helm(helm) => match helm.registry {
                Registry::Index => {
                    f.index(&helm.repo, false).await?;
                }
                Registry::Oci { plain_http } => {
                    let image = chart_image(helm, plain_http);
                    f.resolve(&image, revision, false).await?;
                }
            },
            Source::Oci(oci) => {
                f.metadata(&artifact_image(oci), revision).await?;
            }
            Source::Git(_) => {}
        }
        Ok(())
    }

    /// The unpacked files of `source` at `revision` (from [`Sources::revision`]).
    pub(super) async fn fetch(&self, source: &Source, revision: &str) -> Result<Arc<Dir>, Error> {
        let f = &self.fetcher;
        let (blob, cap, what) = match source {
            Source::Helm(helm) => {
                let blob = match helm.registry {
                    Registry::Index => {
                        f.chart(
                            &helm.repo,
                            helm.chart.as_str(),
                            revision,
                            helm.pass_credentials,
                        )
                        .await?
                    }
                    Registry::Oci { plain_http } => {
                        let image = chart_image(helm, plain_http);
                        // The fetcher looks a version's `+` up as `_`, as Helm tags it.
                        let digest = f.resolve(&image, revision, false).await?;
                        f.pull(&image, &digest, Layers::Chart).await?
                    }
                };
                let what = format!(
                    "chart {} {revision} of {}",
                    helm.chart.as_str(),
                    helm.repo.url()
                );
                (blob, self.caps.helm, what)
            }
            Source::Oci(oci) => {
                let failed = || {
                    (self.metrics.fetches).oci_failed(OciFailure::Extract, oci.repo.url(), revision)
                };
                let pulled = f
                    .pull(&artifact_image(oci), revision, Layers::Artifact)
                    .await;
                let blob = pulled.inspect_err(|_| failed())?;
                let what = format!("{}@{revision}", oci.repo.url());
                let dir = self.unpacked(&blob, self.caps.oci, what.clone()).await;
                let dir = dir.inspect_err(|_| failed())?;
                if blob.media_type != HELM_CHART_LAYER {
                    return Ok(dir);
                }
                // As upstream, a Helm chart's one directory is the root of the source.
                return chart_root(dir, what).await.inspect_err(|_| failed());
            }
            Source::Git(_) => {
                return Err(Error::internal(
                    "fetched sources",
                    "a git source is not fetched here",
                ))
            }
        };
        self.unpacked(&blob, cap, what).await
    }

    /// Whether the repository answers with these credentials (TestRepository).
    pub(super) async fn test(&self, repo: &Repo, kind: Kind) -> Result<(), Error> {
        match kind {
            Kind::Index => {
                self.fetcher.index(repo, true).await?;
            }
            Kind::Oci { plain_http } => {
                self.fetcher.test(&registry_image(repo, plain_http)).await?;
            }
        }
        Ok(())
    }

    /// The tags of an OCI repository (ListOCITags), read anew.
    pub(super) async fn tags(
        &self,
        repo: &Repo,
        plain_http: bool,
    ) -> Result<Vec<String>, repo_fetch::Error> {
        self.fetcher
            .tags(&registry_image(repo, plain_http), true)
            .await
    }

    /// The manifest annotations of an OCI artifact (GetOCIMetadata).
    pub(super) async fn metadata(
        &self,
        repo: &Repo,
        plain_http: bool,
        digest: &str,
    ) -> Result<repo_fetch::Metadata, repo_fetch::Error> {
        let image = registry_image(repo, plain_http);
        let metadata = self.fetcher.metadata(&image, digest);
        metadata.await.inspect_err(|_| {
            (self.metrics.fetches).oci_failed(OciFailure::Metadata, repo.url(), digest);
        })
    }

    /// `blob` unpacked, once per digest.
    async fn unpacked(
        &self,
        blob: &Blob,
        cap: Option<u64>,
        what: String,
    ) -> Result<Arc<Dir>, Error> {
        let hex = blob.digest.trim_start_matches("sha256:").to_string();
        if let Some(dir) = self.kept(&hex) {
            return Ok(dir);
        }
        let lock = self
            .unpacking
            .lock()
            .entry(hex.clone())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if let Some(dir) = self.kept(&hex) {
            return Ok(dir);
        }
        let n = self.unpacks.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{hex}.{n}"));
        let (archive, target) = (blob.path.clone(), path.clone());
        let scratch = self.dir.join(format!(".{hex}.tmp"));
        let max = cap.unwrap_or(u64::MAX);
        let unpacked = blocking(move || {
            let io = |source| repo_render::Error::Io {
                context: format!("unpacking {what}"),
                source,
            };
            let _ = std::fs::remove_dir_all(&scratch);
            std::fs::create_dir(&scratch).map_err(io)?;
            let unpacked = std::fs::File::open(&archive)
                .map_err(io)
                .map(std::io::BufReader::new)
                .and_then(|r| {
                    repo_render::unpack(r, &scratch, max, repo_render::MAX_ENTRIES, &what)
                });
            let bytes = match unpacked {
                Ok(bytes) => bytes,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&scratch);
                    return Err(e);
                }
            };
            std::fs::rename(&scratch, &target).map_err(io)?;
            Ok(bytes)
        })
        .await;
        if unpacked.is_err() {
            // The next request for this digest tries again, with a lock of its own.
            self.unpacking.lock().remove(&hex);
        }
        let dir = Arc::new(Dir {
            path,
            bytes: unpacked?,
            evicted: AtomicBool::new(false),
            _within: None,
        });
        self.keep(hex.clone(), dir.clone());
        self.unpacking.lock().remove(&hex);
        Ok(dir)
    }

    fn kept(&self, hex: &str) -> Option<Arc<Dir>> {
        let mut kept = self.kept.lock();
        let at = kept.iter().position(|(h, _)| h == hex)?;
        let entry = kept.remove(at);
        let dir = entry.1.clone();
        kept.push(entry);
        Some(dir)
    }

    fn keep(&self, hex: String, dir: Arc<Dir>) {
        let mut kept = self.kept.lock();
        kept.push((hex, dir));
        let over = |kept: &[(String, Arc<Dir>)]| {
            let bytes: u64 = kept.iter().map(|(_, d)| d.bytes).sum();
            kept.len() > KEPT || bytes > self.caps.kept_bytes
        };
        // The newest stays, whatever its size: a request is reading it.
        while kept.len() > 1 && over(&kept) {
            let (_, old) = kept.remove(0);
            // Removed from disk when its last reader is done.
            old.evicted.store(true, Ordering::Relaxed);
        }
    }
}

/// The one directory of an unpacked Helm chart, as a directory of its own that keeps `dir` on
/// disk while it is read. Everything in it was confined to `dir` when unpacked.
async fn chart_root(dir: Arc<Dir>, what: String) -> Result<Arc<Dir>, Error> {
    let root = dir.path.clone();
    let path = blocking(move || {
        let io = |source| repo_render::Error::Io {
            context: format!("reading {what}"),
            source,
        };
        let entries = std::fs::read_dir(&root)
            .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
            .map_err(io)?;
        match entries.as_slice() {
            [one] if one.file_type().map_err(io)?.is_dir() => Ok(one.path()),
            _ => Err(repo_render::Error::InvalidArgument(format!(
                "{what}: a Helm chart holds one directory, found {} entries at its root",
                entries.len()
            ))),
        }
    })
    .await?;
    Ok(Arc::new(Dir {
        path,
        bytes: 0,
        evicted: AtomicBool::new(false),
        _within: Some(dir),
    }))
}

/// What TestRepository checks for a Helm or OCI repository.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A Helm repository's index.
    Index,
    /// An OCI registry (type `oci`, or type `helm` with `enableOCI`).
    Oci { plain_http: bool },
}

fn without_scheme(repo: &Repo) -> &str {
    let url = repo.url();
    url.strip_prefix("oci://").unwrap_or(url)
}

/// The OCI image of a Helm chart in a registry: `<registry path>/<chart>`.
fn chart_image(helm: &Helm, plain_http: bool) -> Image<'_> {
    Image {
        repo: &helm.repo,
        name: format!(
            "{}/{}",
            without_scheme(&helm.repo).trim_end_matches('/'),
            helm.chart.as_str()
        ),
        plain_http,
    }
}

fn artifact_image(oci: &Oci) -> Image<'_> {
    registry_image(&oci.repo, oci.plain_http)
}

/// The OCI repository a URL names, as an image without tag.
fn registry_image(repo: &Repo, plain_http: bool) -> Image<'_> {
    Image {
        repo,
        name: without_scheme(repo).to_string(),
        plain_http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path, kept_bytes: u64) -> Sources {
        let fetcher = Fetcher::new(repo_fetch::Settings {
            dir: dir.join("charts"),
            budget_bytes: 1 << 20,
            index_ttl: std::time::Duration::from_secs(60),
            max_index_bytes: 1 << 20,
            max_archive_bytes: 1 << 20,
            tls_data_path: dir.join("tls"),
            oci_media_types: vec![],
            timeout: std::time::Duration::from_secs(5),
            proxies: repo_fetch::Proxies::default(),
            user_agent: None,
            observer: None,
        })
        .unwrap();
        let caps = Caps {
            helm: None,
            oci: None,
            kept_bytes,
        };
        Sources::new(
            fetcher,
            dir.join("unpacked"),
            caps,
            Arc::new(Metrics::new()),
        )
        .unwrap()
    }

    fn unpacked(sources: &Sources, name: &str, bytes: u64) -> Arc<Dir> {
        let path = sources.dir.join(name);
        std::fs::create_dir(&path).unwrap();
        let dir = Arc::new(Dir {
            path,
            bytes,
            evicted: AtomicBool::new(false),
            _within: None,
        });
        sources.keep(name.to_string(), dir.clone());
        dir
    }

    #[test]
    fn unpacked_archives_past_the_byte_budget_go_once_unread() {
        let tmp = tempfile::tempdir().unwrap();
        let sources = sources(tmp.path(), 25);
        let first = unpacked(&sources, "a", 10);
        drop(unpacked(&sources, "b", 10));
        let third = unpacked(&sources, "c", 10);
        assert!(
            sources.kept("a").is_none(),
            "30 bytes kept under a 25-byte budget"
        );
        let path = first.path().to_path_buf();
        assert!(path.is_dir(), "removed while a request still reads it");
        drop(first);
        assert!(!path.exists(), "kept on disk after its last reader");
        assert!(sources.kept("b").is_some() && sources.kept("c").is_some());
        // One archive larger than the whole budget is still kept while it is the newest.
        let big = unpacked(&sources, "d", 100);
        assert!(sources.kept("d").is_some());
        drop((third, big));
    }
}
