//! oci-client's errors as this crate's kinds, with messages that name the repository and what
//! was asked for, and never echo a token server's answer (it may quote what was sent).

use std::path::Path;

use oci_client::errors::{OciDistributionError as Oci, OciErrorCode as Code};

use crate::access::{chain, is_tls};
use crate::Error;

/// `what` names the repository and the tag or digest, e.g. `OCI repository r/x tag 1.0.0`;
/// `ca_file` is where the registry's CA would be read from.
pub(super) fn classify(e: Oci, what: &str, ca_file: &Path) -> Error {
    let denied = || {
        Error::Denied(format!("{what}: the registry refused the credentials (check the repository's username and password or token)"))
    };
    let not_found = || Error::NotFound(format!("{what}: not found"));
    match e {
        Oci::UnauthorizedError { .. } | Oci::AuthenticationFailure(_) => denied(),
        Oci::RegistryError { envelope, .. } => {
            let code = envelope.errors.first().map(|e| &e.code);
            match code {
                Some(Code::Unauthorized | Code::Denied) => denied(),
                Some(
                    Code::NameUnknown
                    | Code::ManifestUnknown
                    | Code::BlobUnknown
                    | Code::ManifestBlobUnknown
                    | Code::NotFound,
                ) => not_found(),
                Some(Code::NameInvalid | Code::TagInvalid | Code::DigestInvalid) => {
                    Error::Invalid(format!("{what}: the registry calls the name invalid"))
                }
                _ => Error::Unavailable(format!("{what}: {envelope}")),
            }
        }
        Oci::ServerError {
            code: 401 | 403, ..
        } => denied(),
        Oci::ServerError { code: 404, .. } => not_found(),
        Oci::ServerError { code, .. } => {
            Error::Unavailable(format!("{what}: the registry answered HTTP {code}"))
        }
        Oci::ImageManifestNotFoundError(_) => not_found(),
        Oci::DigestError(e) => Error::Corrupt(format!("{what}: {e}")),
        Oci::ManifestParsingError(_)
        | Oci::VersionedParsingError(_)
        | Oci::ManifestEncodingError(_)
        | Oci::JsonError(_)
        | Oci::UnsupportedSchemaVersionError(_)
        | Oci::UnsupportedMediaTypeError(_)
        | Oci::SpecViolationError(_)
        | Oci::RegistryNoDigestError
        | Oci::RegistryTokenDecodeError(_) => {
            Error::Corrupt(format!("{what}: the registry's answer is not valid: {e}"))
        }
        Oci::RequestError(e) if is_tls(&e) => Error::Unavailable(format!(
            "{what}: TLS: {}; if the registry's certificate is from a private CA, add it to \
             argocd-tls-certs-cm (read from {}), or set `insecure` on the repository",
            chain(&e.without_url()),
            ca_file.display()
        )),
        Oci::RequestError(e) => Error::Unavailable(format!("{what}: {}", chain(&e))),
        e => Error::Unavailable(format!("{what}: {}", chain(&e))),
    }
}
