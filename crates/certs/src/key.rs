//! The key algorithms `init` can issue with.

use rcgen::{KeyPair, RsaKeySize};

use crate::Error;

/// `--key-type`. Every key of one `init` run (CA and leaves) uses the same algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256: small, fast, accepted everywhere.
    #[default]
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// RSA 2048 with PKCS#1 v1.5 SHA-256, as the openssl recipe uses.
    #[value(name = "rsa2048")]
    Rsa2048,
    /// RSA 4096 with PKCS#1 v1.5 SHA-256 (slow to generate).
    #[value(name = "rsa4096")]
    Rsa4096,
    /// Ed25519 (not supported by some older TLS clients).
    #[value(name = "ed25519")]
    Ed25519,
}

impl KeyType {
    /// A new key; `what` names it in the error.
    pub(crate) fn generate(self, what: &str) -> Result<KeyPair, Error> {
        match self {
            Self::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            Self::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
            Self::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
            Self::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        }
        .map_err(|source| Error::Generate {
            what: format!("{what} key"),
            source,
        })
    }
}
