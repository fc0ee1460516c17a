//! OCI registries: tags, digests, manifests, layers, through the `oci-client` crate (the ORAS
//! project's Rust client: distribution-spec token auth, Basic, bearer, digest-verified blob
//! streams). Not `helm pull` in a per-request Helm home: that is a process, a temp home and a
//! credentials file per request, it cannot pull a native (non-Helm) artifact, and it downloads
//! again what the store already holds; here a pull is one manifest request, and a layer already
//! stored is not downloaded again. What oci-client cannot do (present a TLS client
//! certificate) is refused, never silently skipped.

mod cache;
mod failure;
mod layers;
mod name;
mod session;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::TryStreamExt;
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;
use repo_source::semver::{max_version, Constraint, NoVersion};
use repo_source::Repo;

use self::cache::Ttl;
use self::session::{Clients, Key, Session};
use crate::helm::Flights;
use crate::store::Store;
use crate::{Blob, Error, Event, Fetcher, Settings};

/// Entries kept per cache.
const CACHED: usize = 4096;
/// Tags asked for per page, and the most read in all.
const TAGS_PAGE: usize = 1000;
const MAX_TAGS: usize = 100_000;

/// An OCI repository with the credentials to read it.
pub struct Image<'a> {
    /// Credentials, CA, proxy and `insecure` come from here.
    pub repo: &'a Repo,
    /// `host[:port]/path`, without scheme.
    pub name: String,
    /// `insecureOCIForceHttp`: plain HTTP instead of HTTPS.
    pub plain_http: bool,
}

/// Which layer of a manifest [`Fetcher::pull`] takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    /// The Helm chart layer (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`).
    Chart,
    /// The one content layer of a native OCI source, of a media type in
    /// `--oci-layer-media-types`.
    Artifact,
}

/// The manifest annotations upstream's GetOCIMetadata reads (`org.opencontainers.image.*`);
/// empty when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub created: String,
    pub authors: String,
    pub url: String,
    pub documentation: String,
    pub source: String,
    pub version: String,
    pub revision: String,
    pub description: String,
    pub title: String,
}

pub(crate) struct State {
    clients: Clients,
    /// By (identity, repository).
    tags: Ttl<(Key, String), Arc<Vec<String>>>,
    /// By (identity, repository, tag).
    digests: Ttl<(Key, String, String), String>,
    /// By (identity, repository, digest): a manifest is immutable, but access to it is
    /// checked again once it expires.
    manifests: Ttl<(Key, String, String), Arc<OciImageManifest>>,
    /// Downloads in progress, by layer digest.
    flights: Flights,
}

impl State {
    pub(crate) fn new(settings: &Settings) -> Self {
        // Tags and resolutions live as long as a Helm index: upstream caches both for the
        // revision cache duration.
        let ttl = settings.index_ttl;
        Self {
            clients: Clients::default(),
            tags: Ttl::new(ttl, CACHED),
            digests: Ttl::new(ttl, CACHED),
            manifests: Ttl::new(ttl, CACHED),
            flights: Flights::default(),
        }
    }

    async fn resolve_uncached(
        &self,
        session: &Session,
        revision: &str,
        fresh: bool,
    ) -> Result<String, Error> {
        let constraint = Constraint::parse(revision).is_some();
        // Helm stores a version's `+` as `_` in a tag.
        let tag = revision.replace('+', "_");
        if name::tag_ok(&tag) {
            match self.digest_of(session, &tag).await {
                Err(Error::NotFound(_)) if constraint => {}
                found => return found,
            }
        } else if !constraint {
            return Err(Error::Invalid(format!(
                "OCI repository {}: {revision:?} is neither a digest, a tag nor a semver constraint",
                session.name
            )));
        }
        let tags = self.list_tags(session, fresh).await?;
        let version = max_version(revision, tags.iter().map(String::as_str)).map_err(|e| {
            let why = match e {
                NoVersion::NoMatch(_) => format!("no tag matches the constraint {revision:?}"),
                NoVersion::Invalid(_) => format!("no tag {revision:?}"),
            };
            Error::NotFound(format!("OCI repository {}: {why}", session.name))
        })?;
        self.digest_of(session, &version.replace('+', "_")).await
    }

    async fn digest_of(&self, session: &Session, tag: &str) -> Result<String, Error> {
        let what = format!("OCI repository {} tag {tag}", session.name);
        let digest = session
            .client
            .fetch_manifest_digest(&session.tagged(tag), &session.auth)
            .await
            .map_err(|e| session.fail(e, &what))?;
        if !name::digest_ok(&digest) {
            return Err(Error::Corrupt(format!(
                "{what}: the registry answered digest {digest:?}, not sha256:<hex>"
            )));
        }
        Ok(digest)
    }

    async fn list_tags(&self, session: &Session, fresh: bool) -> Result<Arc<Vec<String>>, Error> {
        let key = (session.key, session.name.repository.clone());
        if !fresh {
            if let Some(tags) = self.tags.get(&key) {
                return Ok(tags);
            }
        }
        let what = format!("OCI repository {}", session.name);
        let reference = session.tagged("latest");
        let mut tags: Vec<String> = Vec::new();
        loop {
            let page = session
                .client
                .list_tags(
                    &reference,
                    &session.auth,
                    Some(TAGS_PAGE),
                    tags.last().map(String::as_str),
                )
                .await
                .map_err(|e| session.fail(e, &what))?;
            let last = tags.last().cloned();
            let full = page.tags.len() >= TAGS_PAGE;
            // A registry that ignores `last` answers the same page again: stop there.
            if page.tags.is_empty() || page.tags.last() == last.as_ref() {
                break;
            }
            tags.extend(page.tags);
            if tags.len() > MAX_TAGS {
                return Err(Error::TooLarge(format!(
                    "{what}: more than {MAX_TAGS} tags"
                )));
            }
            if !full {
                break;
            }
        }
        let tags: Vec<String> = tags.into_iter().map(|t| t.replace('_', "+")).collect();
        let tags = Arc::new(tags);
        self.tags.put(key, tags.clone());
        Ok(tags)
    }

    /// Manifest `digest`, verified against it by oci-client.
    async fn manifest(
        &self,
        session: &Session,
        digest: &str,
    ) -> Result<Arc<OciImageManifest>, Error> {
        let what = format!("OCI repository {}@{digest}", session.name);
        if !name::digest_ok(digest) {
            return Err(Error::Invalid(format!(
                "{what}: expected a digest sha256:<64 hex digits>"
            )));
        }
        let key = (
            session.key,
            session.name.repository.clone(),
            digest.to_string(),
        );
        if let Some(manifest) = self.manifests.get(&key) {
            return Ok(manifest);
        }
        let (manifest, _) = session
            .client
            .pull_manifest(&session.digested(digest), &session.auth)
            .await
            .map_err(|e| session.fail(e, &what))?;
        let OciManifest::Image(manifest) = manifest else {
            return Err(Error::Invalid(format!(
                "{what}: an image index, not the manifest of one artifact"
            )));
        };
        let manifest = Arc::new(manifest);
        self.manifests.put(key, manifest.clone());
        Ok(manifest)
    }

    /// Layer `layer` of manifest `digest` into the store, verified against its digest.
    async fn download(
        &self,
        store: &Store,
        session: &Session,
        digest: &str,
        layer: &OciDescriptor,
        max_bytes: u64,
        what: &str,
    ) -> Result<Blob, Error> {
        let body = session
            .client
            .pull_blob_stream(&session.digested(digest), layer)
            .await
            .map_err(|e| session.fail(e, what))?;
        // oci-client verifies the digest too and fails the stream's last read; remember that it
        // did, whatever the store makes of a failed stream.
        let mismatch = Arc::new(AtomicBool::new(false));
        let seen = mismatch.clone();
        let body = body.inspect_err(move |e| {
            if e.get_ref().is_some_and(|inner| inner.is::<DigestError>()) {
                seen.store(true, Ordering::Relaxed);
            }
        });
        let stored = store
            .put(
                body,
                Some(&layer.digest),
                max_bytes,
                &layer.media_type,
                what,
            )
            .await;
        match stored {
            Err(_) if mismatch.load(Ordering::Relaxed) => Err(Error::Corrupt(format!(
                "{what}: the registry sent a layer that does not match its digest {}",
                layer.digest
            ))),
            stored => stored,
        }
    }
}

impl Fetcher {
    /// The repository's tags, `_` read back as `+` (Helm stores `1.0.0+x` as `1.0.0_x`).
    pub async fn tags(&self, image: &Image<'_>, fresh: bool) -> Result<Vec<String>, Error> {
        observed(&self.inner.settings, "tags", image, true, async {
            let session = self
                .inner
                .oci
                .clients
                .session(&self.inner.settings, image)
                .await?;
            Ok(self.inner.oci.list_tags(&session, fresh).await?.to_vec())
        })
        .await
    }

    /// The manifest digest `revision` names, as upstream's ResolveRevision: a digest as is
    /// (no request); a tag's digest; else, for a semver constraint, the digest of the highest
    /// tag it matches.
    pub async fn resolve(
        &self,
        image: &Image<'_>,
        revision: &str,
        fresh: bool,
    ) -> Result<String, Error> {
        if name::digest_ok(revision) {
            return Ok(revision.to_string());
        }
        observed(&self.inner.settings, "resolve", image, true, async {
            let session = self
                .inner
                .oci
                .clients
                .session(&self.inner.settings, image)
                .await?;
            let key = (
                session.key,
                session.name.repository.clone(),
                revision.to_string(),
            );
            if !fresh {
                if let Some(digest) = self.inner.oci.digests.get(&key) {
                    return Ok(digest);
                }
            }
            let digest = self
                .inner
                .oci
                .resolve_uncached(&session, revision, fresh)
                .await?;
            self.inner.oci.digests.put(key, digest.clone());
            Ok(digest)
        })
        .await
    }

    /// The content layer of manifest `digest` in the store: downloaded once, its size checked
    /// against the cap before and while downloading, its digest verified before it is stored.
    pub async fn pull(
        &self,
        image: &Image<'_>,
        digest: &str,
        layers: Layers,
    ) -> Result<Blob, Error> {
        // Unbounded in time as a whole: a large layer takes what it takes; each read is bounded
        // by the client's read timeout.
        observed(&self.inner.settings, "pull", image, false, async {
            let session = self
                .inner
                .oci
                .clients
                .session(&self.inner.settings, image)
                .await?;
            let what = format!("OCI repository {}@{digest}", session.name);
            let settings = &self.inner.settings;
            // Bounded like the other small requests; the layer download is not.
            let manifest = self.inner.oci.manifest(&session, digest);
            let manifest = within(settings, &session.name.to_string(), manifest).await?;
            let layer = layers::content(&manifest, layers, &settings.oci_media_types, &what)?;
            let size = u64::try_from(layer.size)
                .map_err(|_| Error::Corrupt(format!("{what}: the layer has a negative size")))?;
            if size > settings.max_archive_bytes {
                return Err(Error::TooLarge(format!(
                    "{what}: the layer is {size} bytes, over the {} byte cap",
                    settings.max_archive_bytes
                )));
            }
            if !name::digest_ok(&layer.digest) {
                return Err(Error::Unsupported(format!(
                    "{what}: layer digest {:?} is not sha256, the only algorithm supported",
                    layer.digest
                )));
            }
            let store = &self.inner.store;
            if let Some(blob) = store.get(&layer.digest) {
                return Ok(blob);
            }
            // One download per layer however many requests want it; the others find it stored.
            let oci = &self.inner.oci;
            oci.flights
                .run(&layer.digest, || async {
                    match store.get(&layer.digest) {
                        Some(blob) => Ok(blob),
                        None => {
                            let max = settings.max_archive_bytes;
                            oci.download(store, &session, digest, layer, max, &what)
                                .await
                        }
                    }
                })
                .await
        })
        .await
    }

    /// The annotations of manifest `digest`.
    pub async fn metadata(&self, image: &Image<'_>, digest: &str) -> Result<Metadata, Error> {
        observed(&self.inner.settings, "manifest", image, true, async {
            let session = self
                .inner
                .oci
                .clients
                .session(&self.inner.settings, image)
                .await?;
            let manifest = self.inner.oci.manifest(&session, digest).await?;
            let annotations = manifest.annotations.clone().unwrap_or_default();
            let get = |key: &str| {
                annotations
                    .get(&format!("org.opencontainers.image.{key}"))
                    .cloned()
                    .unwrap_or_default()
            };
            Ok(Metadata {
                created: get("created"),
                authors: get("authors"),
                url: get("url"),
                documentation: get("documentation"),
                source: get("source"),
                version: get("version"),
                revision: get("revision"),
                description: get("description"),
                title: get("title"),
            })
        })
        .await
    }

    /// Whether the registry answers and accepts the credentials, as upstream's TestRepo pings
    /// the registry: a repository it does not know yet passes (an `enableOCI` Helm repository
    /// is a namespace, not an image), credentials it refuses do not.
    pub async fn test(&self, image: &Image<'_>) -> Result<(), Error> {
        observed(&self.inner.settings, "test", image, true, async {
            let session = self
                .inner
                .oci
                .clients
                .session(&self.inner.settings, image)
                .await?;
            let what = format!("OCI repository {}", session.name);
            let reference = session.tagged("latest");
            // With distribution token auth the token server has now judged the username and
            // password; a registry may then hide an unknown repository behind a 401.
            let token = session
                .client
                .auth(&reference, &session.auth, RegistryOperation::Pull)
                .await
                .map_err(|e| session.fail(e, &what))?;
            if token.is_some() && !matches!(session.auth, RegistryAuth::Bearer(_)) {
                return Ok(());
            }
            // Basic (or a bearer token, or none): a request to the repository judges them.
            let listed = session
                .client
                .list_tags(&reference, &session.auth, Some(1), None)
                .await;
            match listed {
                Ok(_) => Ok(()),
                Err(OciDistributionError::RegistryError { envelope, .. })
                    if envelope
                        .errors
                        .first()
                        .is_some_and(|e| e.code == OciErrorCode::NameUnknown) =>
                {
                    Ok(())
                }
                Err(e) => Err(session.fail(e, &what)),
            }
        })
        .await
    }
}

/// Runs one operation, bounded by the request timeout when `bounded`, and reports it.
async fn observed<T>(
    settings: &Settings,
    op: &'static str,
    image: &Image<'_>,
    bounded: bool,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let start = Instant::now();
    let repo = name::without_userinfo(&image.name);
    let result = if bounded {
        within(settings, repo, work).await
    } else {
        work.await
    };
    if let Some(observer) = &settings.observer {
        observer.observe(&Event {
            kind: "oci",
            op,
            repo: repo.to_string(),
            ok: result.is_ok(),
            elapsed: start.elapsed(),
        });
    }
    result
}

/// `work`, or an error naming `repo` once the request timeout has passed.
async fn within<T>(
    settings: &Settings,
    repo: &str,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(settings.timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Unavailable(format!(
                "OCI repository {repo}: no answer within {:?}",
                settings.timeout
            )))
        })
}
