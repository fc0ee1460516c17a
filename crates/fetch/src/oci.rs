//! OCI registries: tags, digests, manifests, layers.

use crate::{Error, Settings};

pub(crate) struct State {}

impl State {
    pub(crate) fn new(_settings: &Settings) -> Result<Self, Error> {
        Ok(Self {})
    }
}
