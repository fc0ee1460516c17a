//! The fetcher: one per server, shared by every request.

use std::sync::Arc;

use crate::{helm, oci, store::Store, Error, Settings};

/// Fetches from Helm repositories and OCI registries; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) helm: helm::State,
    pub(crate) oci: oci::State,
}

impl Fetcher {
    pub fn new(settings: Settings) -> Result<Self, Error> {
        let store = Store::new(settings.dir.clone(), settings.budget_bytes)?;
        let helm = helm::State::new(&settings);
        let oci = oci::State::new(&settings);
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                store,
                helm,
                oci,
            }),
        })
    }
}
