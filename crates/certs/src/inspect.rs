//! `repoctl certs inspect`: every certificate in PEM files, described, with warnings.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::{Error, Summary};

/// Arguments of `repoctl certs inspect`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Inspect {
    /// PEM files with one or more certificates (a chain or a CA bundle).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Describes every certificate of a PEM file, in order, as of `now`.
pub fn inspect(path: &Path, now: OffsetDateTime) -> Result<Vec<Summary>, Error> {
    repo_tls::read_chain(path)?
        .iter()
        .enumerate()
        .map(|(i, der)| Summary::parse(der, path, i, now))
        .collect()
}
