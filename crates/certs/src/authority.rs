//! The CA that `init` creates and the leaves it signs.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::{random, Error, KeyType};

/// The CA outlives its leaves by this much at least, so reissuing leaves does not mean
/// redistributing the CA.
const CA_DAYS: u32 = 3650;

/// Certificates start slightly in the past: pod clocks are not perfectly in sync.
const BACKDATE: Duration = Duration::minutes(5);

/// A PEM certificate and its PEM (PKCS#8) key.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub cert: String,
    pub key: String,
}

/// What a leaf says about its holder.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub cn: String,
    pub sans: Vec<SanType>,
    pub eku: ExtendedKeyUsagePurpose,
}

/// A freshly made CA that can sign leaves.
pub(crate) struct Authority {
    pub pair: Pair,
    issuer: Issuer<'static, KeyPair>,
    key_type: KeyType,
    days: u32,
}

fn params(cn: &str, days: u32) -> Result<CertificateParams, Error> {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = OffsetDateTime::now_utc();
    p.not_before = now - BACKDATE;
    p.not_after = now + Duration::days(days.into());
    p.serial_number = Some(random::serial()?);
    Ok(p)
}

fn generate(what: String) -> impl FnOnce(rcgen::Error) -> Error {
    move |source| Error::Generate { what, source }
}

impl Authority {
    /// A CA for leaves valid `days` days. It may sign leaves only (pathlen 0).
    pub(crate) fn new(cn: &str, key_type: KeyType, days: u32) -> Result<Self, Error> {
        let key = key_type.generate("the CA")?;
        let mut p = params(cn, days.max(CA_DAYS))?;
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = p
            .self_signed(&key)
            .map_err(generate("the CA certificate".into()))?;
        let pair = Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ok(Self {
            pair,
            issuer: Issuer::new(p, key),
            key_type,
            days,
        })
    }

    /// A leaf with its own new key.
    pub(crate) fn issue(&self, leaf: &Leaf) -> Result<Pair, Error> {
        let key = self.key_type.generate(&format!("the {}", leaf.cn))?;
        let mut p = params(&leaf.cn, self.days)?;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![leaf.eku.clone()];
        p.subject_alt_names = leaf.sans.clone();
        p.use_authority_key_identifier_extension = true;
        let cert = p
            .signed_by(&key, &self.issuer)
            .map_err(generate(format!("the certificate for {}", leaf.cn)))?;
        Ok(Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}
