//! Helm repositories and OCI registries over HTTP(S), for sources that are not git: a Helm
//! repository's `index.yaml` (cached, size-capped), chart versions resolved with upstream's
//! semver rules, OCI tags, digests and manifests, and chart/artifact archives pulled once into a
//! content-addressed store on disk. Unpacking is not done here: the engine unpacks a [`Blob`]
//! with the renderer's confined unpacker.
//!
//! | job                                                        | module      |
//! |------------------------------------------------------------|-------------|
//! | HTTP clients per repository: credentials, CAs, proxies      | `access`    |
//! | Helm repositories: index, versions, chart archives          | `helm`      |
//! | `index.yaml` parsing                                        | `index`     |
//! | OCI registries: tags, digests, manifests, layers            | `oci`       |
//! | content-addressed archive store under a disk budget         | `store`     |
#![forbid(unsafe_code)]

mod access;
mod error;
mod fetcher;
mod helm;
mod index;
mod oci;
mod settings;
mod store;

pub use error::Error;
pub use fetcher::Fetcher;
pub use index::{Entry, Index, Maintainer};
pub use oci::{Image, Layers, Metadata};
pub use settings::{Event, Observer, Proxies, Settings};

use std::path::PathBuf;

/// An archive in the store, named by the SHA-256 of its bytes. Immutable once stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>` of the archive bytes.
    pub digest: String,
    pub path: PathBuf,
    /// The OCI layer media type, or `application/x-tar+gzip` for a Helm repository archive.
    pub media_type: String,
}
