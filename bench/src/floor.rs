//! The crypto floor of one full mTLS handshake on this machine: the server's public-key
//! operations, each timed here with aws-lc-rs, summed. Nothing can handshake for less CPU.

use std::time::{Duration, Instant};

use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey as PeerKey, X25519};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};

/// Microseconds per operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Costs {
    pub x25519_keygen: f64,
    pub x25519_agree: f64,
    pub p256_sign: f64,
    pub p256_verify: f64,
    pub rsa2048_pss_sign: f64,
    pub rsa2048_pss_verify: f64,
    pub rsa2048_pkcs1_verify: f64,
}

impl Costs {
    /// Key exchange, the server's CertificateVerify signature, the client's CertificateVerify
    /// check and the check of the CA's signature on the client certificate (P-256 throughout).
    pub(crate) fn handshake_p256(&self) -> f64 {
        self.x25519_keygen + self.x25519_agree + self.p256_sign + 2.0 * self.p256_verify
    }

    /// The same with the recipe's RSA-2048 keys: PSS in TLS 1.3, PKCS#1 on the certificate.
    pub(crate) fn handshake_rsa2048(&self) -> f64 {
        self.x25519_keygen
            + self.x25519_agree
            + self.rsa2048_pss_sign
            + self.rsa2048_pss_verify
            + self.rsa2048_pkcs1_verify
    }

    /// A resumed handshake (PSK with ECDHE): only the key exchange.
    pub(crate) fn resumed(&self) -> f64 {
        self.x25519_keygen + self.x25519_agree
    }

    pub(crate) fn measure(per_op: Duration) -> Self {
        let rng = SystemRandom::new();
        let message = [0x5au8; 130]; // the size of a TLS 1.3 CertificateVerify input

        let ec_doc =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let ec =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, ec_doc.as_ref())
                .unwrap();
        let ec_sig = ec.sign(&rng, &message).unwrap();
        let ec_pub =
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, ec.public_key().as_ref());

        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let mut pss = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PSS_SHA256, &rng, &message, &mut pss)
            .unwrap();
        let mut pkcs1 = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, &message, &mut pkcs1)
            .unwrap();
        let rsa_public = rsa.public_key().as_ref().to_vec();
        let pss_pub = UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, &rsa_public);
        let pkcs1_pub = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &rsa_public);

        let peer = EphemeralPrivateKey::generate(&X25519, &rng)
            .unwrap()
            .compute_public_key()
            .unwrap();

        let mut buf = vec![0u8; rsa.public_modulus_len()];
        Self {
            x25519_keygen: time(per_op, || {
                let key = EphemeralPrivateKey::generate(&X25519, &rng).unwrap();
                key.compute_public_key().unwrap();
            }),
            x25519_agree: time(per_op, || {
                let key = EphemeralPrivateKey::generate(&X25519, &rng).unwrap();
                agreement::agree_ephemeral(key, PeerKey::new(&X25519, &peer), (), |_| Ok(()))
                    .unwrap();
            }) - time(per_op, || {
                EphemeralPrivateKey::generate(&X25519, &rng).unwrap();
            }),
            p256_sign: time(per_op, || {
                ec.sign(&rng, &message).unwrap();
            }),
            p256_verify: time(per_op, || ec_pub.verify(&message, ec_sig.as_ref()).unwrap()),
            rsa2048_pss_sign: time(per_op, || {
                rsa.sign(&signature::RSA_PSS_SHA256, &rng, &message, &mut buf)
                    .unwrap()
            }),
            rsa2048_pss_verify: time(per_op, || pss_pub.verify(&message, &pss).unwrap()),
            rsa2048_pkcs1_verify: time(per_op, || pkcs1_pub.verify(&message, &pkcs1).unwrap()),
        }
    }
}

/// Mean microseconds of `op` over about `budget` of repetitions.
fn time(budget: Duration, mut op: impl FnMut()) -> f64 {
    op();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..8 {
            op();
        }
        n += 8;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_handshake_counts_the_operations_the_server_performs() {
        let c = Costs {
            x25519_keygen: 1.0,
            x25519_agree: 2.0,
            p256_sign: 4.0,
            p256_verify: 8.0,
            rsa2048_pss_sign: 16.0,
            rsa2048_pss_verify: 32.0,
            rsa2048_pkcs1_verify: 64.0,
        };
        assert_eq!(c.handshake_p256(), 1.0 + 2.0 + 4.0 + 16.0);
        assert_eq!(c.handshake_rsa2048(), 1.0 + 2.0 + 16.0 + 32.0 + 64.0);
        assert_eq!(c.resumed(), 3.0);
    }

    #[test]
    fn every_operation_is_measured() {
        let c = Costs::measure(Duration::from_millis(5));
        for v in [
            c.x25519_keygen,
            c.p256_sign,
            c.p256_verify,
            c.rsa2048_pss_sign,
            c.rsa2048_pss_verify,
            c.rsa2048_pkcs1_verify,
        ] {
            assert!(v.is_finite() && v > 0.0, "{c:?}");
        }
    }
}
