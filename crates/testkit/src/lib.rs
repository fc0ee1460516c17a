//! Fixtures for tests: certificates generated on the fly (no checked-in keys), the external
//! tools tests run, and (by feature) a static HTTP(S) server, a real OCI registry and helm.
#![forbid(unsafe_code)]

mod helm;
mod process;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "served")]
pub mod served;
mod tools;

pub use helm::Helm;
pub use process::alive;
pub use tools::tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// A PEM certificate and its PEM key.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: String,
    pub key: String,
}

impl Pair {
    /// Writes `<name>.crt` and `<name>.key` into `dir`, returning their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }
}

/// A test certificate authority.
pub struct Ca {
    pub cert: String,
    issuer: Issuer<'static, KeyPair>,
}

/// What a leaf looks like.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cn: String,
    pub dns: Vec<String>,
    pub uris: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
}

impl Leaf {
    /// A client leaf with EKU clientAuth, valid from an hour ago for a day.
    pub fn client(cn: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            cn: cn.to_string(),
            dns: vec![],
            uris: vec![],
            ips: vec![],
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(1),
            is_ca: false,
        }
    }

    /// A server leaf for `localhost`, `127.0.0.1` and `argocd-repo-server`, EKU serverAuth.
    pub fn server() -> Self {
        Self {
            dns: vec!["localhost".into(), "argocd-repo-server".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            eku: vec![ExtendedKeyUsagePurpose::ServerAuth],
            ..Self::client("argocd-repo-server")
        }
    }

    pub fn expired(mut self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before = now - Duration::days(10);
        self.not_after = now - Duration::days(1);
        self
    }

    pub fn not_yet_valid(mut self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before = now + Duration::days(1);
        self.not_after = now + Duration::days(10);
        self
    }

    pub fn eku(mut self, eku: Vec<ExtendedKeyUsagePurpose>) -> Self {
        self.eku = eku;
        self
    }

    pub fn ca_flagged(mut self) -> Self {
        self.is_ca = true;
        self
    }

    fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, self.cn.as_str());
        p.subject_alt_names = self
            .dns
            .iter()
            .map(|d| SanType::DnsName(d.clone().try_into().unwrap()))
            .chain(
                self.uris
                    .iter()
                    .map(|u| SanType::URI(u.clone().try_into().unwrap())),
            )
            .chain(self.ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .collect();
        p.extended_key_usages = self.eku.clone();
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        if self.is_ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        } else {
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        }
        p
    }

    /// The same leaf, self-signed.
    pub fn self_signed(&self) -> Pair {
        let key = KeyPair::generate().unwrap();
        let cert = self.params().self_signed(&key).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::days(1);
        p.not_after = now + Duration::days(30);
        let cert = p.self_signed(&key).unwrap();
        Self {
            cert: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A PEM CRL of this CA revoking `revoked`.
    pub fn crl(&self, revoked: &[&Pair]) -> String {
        let now = OffsetDateTime::now_utc();
        let revoked_certs = revoked
            .iter()
            .map(|pair| {
                let der = rustls_pki_types::pem::PemObject::from_pem_slice(pair.cert.as_bytes())
                    .map(|d: rustls_pki_types::CertificateDer<'static>| d.to_vec())
                    .unwrap();
                let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
                rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(
                        cert.tbs_certificate.raw_serial(),
                    ),
                    revocation_time: now,
                    reason_code: None,
                    invalidity_date: None,
                }
            })
            .collect();
        rcgen::CertificateRevocationListParams {
            this_update: now,
            next_update: now + Duration::days(1),
            crl_number: rcgen::SerialNumber::from(now.unix_timestamp() as u64),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }

    pub fn issue(&self, leaf: &Leaf) -> Pair {
        let key = KeyPair::generate().unwrap();
        let cert = leaf.params().signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Whether `openssl` can be run; in CI (`CI=true`) its absence is a failure.
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is required in CI"
        );
        eprintln!("skipping: openssl not found");
    }
    ok
}

/// Runs `openssl ARGS` in `dir`, failing the test with its stderr if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The article's recipe, verbatim in spirit: RSA-2048 keys, a `req -x509` CA, and server and
/// client certificates signed with `x509 -req -CAcreateserial` and no extension file. Writes
/// `ca.crt`, `ca.key`, `server.crt`, `server.key`, `client.crt`, `client.key` into `dir`.
/// On OpenSSL 3.0 the two leaves come out as X.509 v1 with only a CN.
pub fn openssl_recipe(dir: &Path) {
    openssl(dir, &["genrsa", "-out", "ca.key", "2048"]);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-days",
            "365",
            "-key",
            "ca.key",
            "-subj",
            "/CN=argocd-internal-repo-ca",
            "-out",
            "ca.crt",
        ],
    );
    for (name, cn) in [
        ("server", "argocd-repo-server"),
        ("client", "argocd-core-clients"),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.crt");
        openssl(dir, &["genrsa", "-out", &key, "2048"]);
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &csr,
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "365",
            ],
        );
    }
}

/// A directory updated the way kubelet updates a Secret volume: files are symlinks into
/// `..data`, itself a symlink to a timestamped directory that each update replaces atomically.
pub struct SecretVolume {
    dir: PathBuf,
    generation: u32,
}

impl SecretVolume {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self {
            dir: dir.to_path_buf(),
            generation: 0,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces the whole content of the volume with `files`.
    pub fn update(&mut self, files: &[(&str, &str)]) {
        use std::os::unix::fs::symlink;
        self.generation += 1;
        let generation = format!(
            "..2026_11_24_00_00_{:02}.{}",
            self.generation,
            std::process::id()
        );
        let staged = self.dir.join(&generation);
        std::fs::create_dir(&staged).unwrap();
        for (name, content) in files {
            std::fs::write(staged.join(name), content).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        symlink(&generation, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (name, _) in files {
            let link = self.dir.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                symlink(Path::new("..data").join(name), &link).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}
