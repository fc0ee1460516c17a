//! An oci-client `Client` per identity (registry, protocol, credentials, CA, proxy), reused
//! across requests so bearer tokens and connections are too. oci-client keeps one credential
//! per registry inside a client, so a client is never shared between identities.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use parking_lot::Mutex;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use super::failure::classify;
use super::name::Name;
use super::Image;
use crate::{Error, Settings};

/// Clients kept at once; past this the map starts over (clients are cheap to rebuild).
const MAX_CLIENTS: usize = 256;

/// Digest of everything that decides what a registry answers: caches are keyed by it, so an
/// answer given to one set of credentials is never served to another.
pub(super) type Key = [u8; 32];

/// What one request works with.
pub(super) struct Session {
    pub(super) client: Client,
    pub(super) auth: RegistryAuth,
    pub(super) name: Name,
    pub(super) key: Key,
    /// Where the registry's CA file would be (named in TLS errors).
    ca_path: PathBuf,
}

impl Session {
    /// oci-client's error as this crate's, naming `what`.
    pub(super) fn fail(&self, e: OciDistributionError, what: &str) -> Error {
        classify(e, what, &self.ca_path)
    }

    pub(super) fn tagged(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.name.registry.clone(),
            self.name.repository.clone(),
            tag.to_string(),
        )
    }

    pub(super) fn digested(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.name.registry.clone(),
            self.name.repository.clone(),
            digest.to_string(),
        )
    }
}

#[derive(Default)]
pub(super) struct Clients {
    map: Mutex<HashMap<Key, Client>>,
}

impl Clients {
    pub(super) async fn session(
        &self,
        settings: &Settings,
        image: &Image<'_>,
    ) -> Result<Session, Error> {
        let name = Name::parse(&image.name)?;
        let creds = &image.repo.creds;
        // oci-client cannot present a client certificate: refuse rather than connect without
        // the one the operator configured.
        for (value, field) in [
            (&creds.tls_client_cert_data, "tlsClientCertData"),
            (&creds.tls_client_cert_key, "tlsClientCertKey"),
        ] {
            if !value.is_empty() {
                return Err(Error::Unsupported(format!(
                    "OCI repository {name}: {field} is set, but a TLS client certificate is not \
                     supported for OCI registries; remove it from the repository"
                )));
            }
        }
        let auth = if !creds.bearer_token.is_empty() {
            RegistryAuth::Bearer(creds.bearer_token.clone())
        } else if !creds.username.is_empty() || !creds.password.is_empty() {
            RegistryAuth::Basic(creds.username.clone(), creds.password.clone())
        } else {
            RegistryAuth::Anonymous
        };
        let ca_path = settings.tls_data_path.join(name.ca_file());
        let ca = if image.plain_http {
            None
        } else {
            ca_file(settings, &ca_path).await?
        };

        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(name.registry.as_bytes());
        field(&[u8::from(image.plain_http), u8::from(creds.insecure)]);
        field(creds.username.as_bytes());
        field(creds.password.as_bytes());
        field(creds.bearer_token.as_bytes());
        let (https_proxy, http_proxy, no_proxy) = proxies(settings, image);
        for proxy in [https_proxy, http_proxy, no_proxy] {
            field(proxy.unwrap_or_default().as_bytes());
        }
        field(ca.as_ref().map_or(&[][..], |(_, pem)| pem));
        let key: Key = hash.finalize().into();

        if let Some(client) = self.map.lock().get(&key) {
            return Ok(Session {
                client: client.clone(),
                auth,
                name,
                key,
                ca_path,
            });
        }
        let client = build(settings, image, &name, ca)?;
        let mut map = self.map.lock();
        if map.len() >= MAX_CLIENTS {
            map.clear();
        }
        map.insert(key, client.clone());
        Ok(Session {
            client,
            auth,
            name,
            key,
            ca_path,
        })
    }
}

/// The registry's CA bundle from `ARGOCD_TLS_DATA_PATH/<host>` (upstream's
/// argocd-tls-certs-cm mount), when there is one.
async fn ca_file(settings: &Settings, path: &Path) -> Result<Option<(PathBuf, Vec<u8>)>, Error> {
    if settings.tls_data_path.as_os_str().is_empty() {
        return Ok(None);
    }
    match tokio::fs::read(path).await {
        Ok(pem) => Ok(Some((path.to_path_buf(), pem))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            context: format!("reading the CA file {}", path.display()),
            source,
        }),
    }
}

fn build(
    settings: &Settings,
    image: &Image<'_>,
    name: &Name,
    ca: Option<(PathBuf, Vec<u8>)>,
) -> Result<Client, Error> {
    let creds = &image.repo.creds;
    // Added to the system's roots, as for Helm repositories (docs/helm-oci.md).
    let mut extra_root_certificates = Vec::new();
    if let Some((path, pem)) = ca {
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|certs| !certs.is_empty())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "OCI repository {name}: {} holds no valid PEM certificate",
                    path.display()
                ))
            })?;
        extra_root_certificates = certs
            .into_iter()
            .map(|der| Certificate {
                encoding: CertificateEncoding::Der,
                data: der.to_vec(),
            })
            .collect();
    }
    let (https_proxy, http_proxy, no_proxy) = proxies(settings, image);
    let config = ClientConfig {
        protocol: if image.plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        accept_invalid_certificates: creds.insecure,
        extra_root_certificates,
        platform_resolver: None,
        read_timeout: Some(settings.timeout),
        connect_timeout: Some(settings.timeout),
        https_proxy,
        http_proxy,
        no_proxy,
        ..ClientConfig::default()
    };
    // Not `Client::new`: it falls back to a default client (no CA, no proxy) on error.
    Client::try_from(config).map_err(|_| {
        Error::Invalid(format!(
            "OCI repository {name}: the repository's proxy URL or CA certificate is not valid"
        ))
    })
}

/// The proxies for https and http URLs, and the hosts that bypass them: the repository's own
/// proxy, else the pod's (read by the server at startup). As Go's ProxyFromEnvironment, a
/// loopback registry is never proxied. With no proxy at all reqwest reads the same variables
/// from the environment, where the server found them empty.
fn proxies(
    settings: &Settings,
    image: &Image<'_>,
) -> (Option<String>, Option<String>, Option<String>) {
    let creds = &image.repo.creds;
    let pod = &settings.proxies;
    let (https, http, no) = if creds.proxy.is_empty() {
        (pod.https.as_str(), pod.http.as_str(), pod.no.as_str())
    } else {
        (
            creds.proxy.as_str(),
            creds.proxy.as_str(),
            creds.no_proxy.as_str(),
        )
    };
    let set = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let no = [no, "localhost,127.0.0.0/8,::1"]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    (set(https), set(http), Some(no))
}
