//! PEM files: certificate chains and private keys, with errors that name the file.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in a PEM file, in order (leaf first for a chain).
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    parse_chain(&read(path)?, path)
}

pub(crate) fn parse_chain(
    bytes: &[u8],
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file: PKCS#1 (RSA), PKCS#8 or SEC1 (EC).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    parse_key(&read(path)?, path)
}

pub(crate) fn parse_key(bytes: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => Error::NoKey {
            path: path.to_path_buf(),
        },
        other => Error::Pem {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    })
}
