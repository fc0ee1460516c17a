//! `repoctl certs revoke`: write or extend the CRL the repo-server reads from
//! `client-crl.pem`, signed by the CA that issued the revoked certificates.

use std::path::{Path, PathBuf};

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::files::{write_all, Output};
use crate::Error;

/// Arguments of `repoctl certs revoke`.
#[derive(Debug, Clone, clap::Args)]
pub struct Revoke {
    /// Certificate of the CA that issued the certificates to revoke
    #[arg(long, value_name = "FILE")]
    pub ca_cert: PathBuf,
    /// Key of that CA
    #[arg(long, value_name = "FILE")]
    pub ca_key: PathBuf,
    /// CRL to write (PEM); an existing one is extended, its revocations kept
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Days until the CRL's nextUpdate
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Certificates to revoke (PEM; the first certificate of each file)
    #[arg(required = true, value_name = "CERT")]
    pub certs: Vec<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, detail: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        index: 1,
        detail: detail.into(),
    }
}

/// Revocations already in `out`, if it exists; they must come from the same CA.
fn existing(out: &Path, ca: &[u8]) -> Result<Vec<RevokedCertParams>, Error> {
    if !out.exists() {
        return Ok(Vec::new());
    }
    let bytes = read(out)?;
    let der = CertificateRevocationListDer::from_pem_slice(&bytes)
        .map_err(|e| invalid(out, e.to_string()))?;
    let (_, crl) =
        CertificateRevocationList::from_der(&der).map_err(|e| invalid(out, e.to_string()))?;
    if !repo_tls::issued_by(&der, ca) {
        return Err(invalid(
            out,
            "this CRL was issued by another CA than --ca-cert",
        ));
    }
    Ok(crl
        .iter_revoked_certificates()
        .map(|r| RevokedCertParams {
            serial_number: SerialNumber::from_slice(r.raw_serial()),
            revocation_time: r.revocation_date.to_datetime(),
            reason_code: None,
            invalidity_date: None,
        })
        .collect())
}

/// Writes the CRL; returns how many certificates it revokes in total.
pub fn revoke(args: &Revoke) -> Result<usize, Error> {
    let ca_pem = String::from_utf8_lossy(&read(&args.ca_cert)?).into_owned();
    let key_pem = String::from_utf8_lossy(&read(&args.ca_key)?).into_owned();
    let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(&args.ca_key, e.to_string()))?;
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| invalid(&args.ca_cert, e.to_string()))?;
    let (_, ca) =
        X509Certificate::from_der(&ca_der).map_err(|e| invalid(&args.ca_cert, e.to_string()))?;
    if ca.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key).as_slice() {
        return Err(invalid(
            &args.ca_key,
            "this key does not belong to --ca-cert",
        ));
    }
    let mut revoked = existing(&args.out, &ca_der)?;
    let now = OffsetDateTime::now_utc();
    for path in &args.certs {
        let der = CertificateDer::from_pem_slice(&read(path)?)
            .map_err(|e| invalid(path, e.to_string()))?;
        let (_, cert) =
            X509Certificate::from_der(&der).map_err(|e| invalid(path, e.to_string()))?;
        if !repo_tls::issued_by(&der, &ca_der) {
            return Err(invalid(
                path,
                "not issued by --ca-cert; revoke it with the CA that issued it",
            ));
        }
        let serial = SerialNumber::from_slice(cert.tbs_certificate.raw_serial());
        if !revoked.iter().any(|r| r.serial_number == serial) {
            revoked.push(RevokedCertParams {
                serial_number: serial,
                revocation_time: now,
                reason_code: None,
                invalidity_date: None,
            });
        }
    }
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, key)
        .map_err(|e| invalid(&args.ca_cert, e.to_string()))?;
    let count = revoked.len();
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + Duration::days(i64::from(args.days)),
        // Seconds since the epoch only ever grow, as a CRL number must.
        crl_number: SerialNumber::from(now.unix_timestamp().max(1) as u64),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params
        .signed_by(&issuer)
        .map_err(|source| Error::Generate {
            what: "the CRL".into(),
            source,
        })?;
    let contents = crl.pem().map_err(|source| Error::Generate {
        what: "the CRL".into(),
        source,
    })?;
    write_all(
        &[Output {
            path: args.out.clone(),
            contents,
            private: false,
        }],
        true,
    )?;
    Ok(count)
}
