//! Why a handshake failed, in words an operator can act on, with a stable metric label.

use rustls::{AlertDescription, CertificateError, Error};

/// The reason a TLS handshake was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NoCertificate,
    UnknownCa,
    Expired,
    NotYetValid,
    /// A CA of the chain (an intermediate or the bundle's own CA) is outside its validity.
    ExpiredCa,
    NotYetValidCa,
    /// A name of the leaf is outside the name constraints of a CA of its chain.
    NameConstraints,
    WrongKeyUsage,
    BadSignature,
    CaAsClient,
    Revoked,
    BadCertificate,
    PeerAlert,
    Timeout,
    Protocol,
}

/// A client certificate that is itself a CA (basicConstraints CA:TRUE) is refused: a CA key
/// used as a component identity could mint further identities.
#[derive(thiserror::Error)]
#[error("client certificate is a CA certificate (basicConstraints CA:TRUE); issue a leaf certificate with CA:FALSE for the component")]
pub(crate) struct CaAsClient;

// rustls prints a certificate error's payload with `Debug`; make that the operator's message.
impl std::fmt::Debug for CaAsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A chain refused for what a CA of it is or allows, beyond what webpki checks (see `path`).
#[derive(thiserror::Error)]
pub(crate) enum ChainRefusal {
    #[error("CA certificate {0:?} of the client's chain has expired: renew it and update the client-CA bundle or the client's chain")]
    CaExpired(String),
    #[error("CA certificate {0:?} of the client's chain is not valid yet: check clocks and the CA's notBefore")]
    CaNotYetValid(String),
    #[error("client certificate name {name:?} is outside the name constraints of CA {ca:?}: issue it with names inside them (the CN too, or no CN)")]
    NameConstraints { name: String, ca: String },
    #[error("a CRL in the CRL file does not verify against the CA of the client's chain it names (another key, or no cRLSign key usage): replace it with that CA's current CRL")]
    CrlSignature,
    #[error("the {0} of the client's chain cannot be read")]
    Unreadable(&'static str),
}

impl std::fmt::Debug for ChainRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<ChainRefusal> for Error {
    fn from(refusal: ChainRefusal) -> Self {
        CertificateError::Other(rustls::OtherError(std::sync::Arc::new(refusal))).into()
    }
}

impl Reason {
    /// Every reason, for pre-registering metric series.
    pub const ALL: [Reason; 15] = [
        Reason::NoCertificate,
        Reason::UnknownCa,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::ExpiredCa,
        Reason::NotYetValidCa,
        Reason::NameConstraints,
        Reason::WrongKeyUsage,
        Reason::BadSignature,
        Reason::CaAsClient,
        Reason::Revoked,
        Reason::BadCertificate,
        Reason::PeerAlert,
        Reason::Timeout,
        Reason::Protocol,
    ];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Reason::NoCertificate => "no_certificate",
            Reason::UnknownCa => "unknown_ca",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::ExpiredCa => "expired_ca",
            Reason::NotYetValidCa => "not_yet_valid_ca",
            Reason::NameConstraints => "name_constraints",
            Reason::WrongKeyUsage => "wrong_key_usage",
            Reason::BadSignature => "bad_signature",
            Reason::CaAsClient => "ca_as_client",
            Reason::Revoked => "revoked",
            Reason::BadCertificate => "bad_certificate",
            Reason::PeerAlert => "peer_alert",
            Reason::Timeout => "timeout",
            Reason::Protocol => "protocol_error",
        }
    }

    /// A sentence for the log line.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::NoCertificate => "client presented no certificate",
            Reason::UnknownCa => "client certificate is not signed by a CA in the client-CA bundle",
            Reason::Expired => "client certificate has expired",
            Reason::NotYetValid => "client certificate is not valid yet (check clocks and notBefore)",
            Reason::ExpiredCa => "a CA certificate of the client's chain has expired (an intermediate or the client-CA bundle's CA): renew it and update the bundle or the client's chain",
            Reason::NotYetValidCa => "a CA certificate of the client's chain is not valid yet (check clocks and the CA's notBefore)",
            Reason::NameConstraints => "a name of the client certificate (CN, DNS or URI SAN) is outside the name constraints of a CA of its chain",
            Reason::WrongKeyUsage => "client certificate does not allow client authentication (extendedKeyUsage lacks clientAuth)",
            Reason::BadSignature => "client certificate signature does not verify against the bundle CA of that name (tampered, or issued by another CA with the same name)",
            Reason::CaAsClient => "client certificate is a CA certificate",
            Reason::Revoked => "client certificate, or a CA of its chain, is revoked by its issuer's CRL",
            Reason::BadCertificate => "client certificate is malformed or unsupported",
            Reason::PeerAlert => "client aborted the handshake (it may not trust the serving certificate)",
            Reason::Timeout => "handshake did not complete in time",
            Reason::Protocol => "TLS protocol error (not TLS, no common version/cipher/ALPN, or connection closed)",
        }
    }

    /// Classifies a handshake error.
    pub fn of(err: &Error) -> Reason {
        match err {
            Error::NoCertificatesPresented => Reason::NoCertificate,
            Error::InvalidCertificate(cert) => Self::of_certificate(cert),
            Error::AlertReceived(AlertDescription::CloseNotify) => Reason::Protocol,
            Error::AlertReceived(_) => Reason::PeerAlert,
            _ => Reason::Protocol,
        }
    }

    fn of_certificate(err: &CertificateError) -> Reason {
        match err {
            CertificateError::UnknownIssuer => Reason::UnknownCa,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Reason::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Reason::NotYetValid
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                Reason::WrongKeyUsage
            }
            CertificateError::BadSignature => Reason::BadSignature,
            CertificateError::Revoked => Reason::Revoked,
            // Our verifier refuses CA-flagged leaves before webpki sees them.
            CertificateError::Other(other) if other.0.downcast_ref::<CaAsClient>().is_some() => {
                Reason::CaAsClient
            }
            CertificateError::Other(other) => match other.0.downcast_ref::<ChainRefusal>() {
                Some(ChainRefusal::CaExpired(_)) => Reason::ExpiredCa,
                Some(ChainRefusal::CaNotYetValid(_)) => Reason::NotYetValidCa,
                Some(ChainRefusal::NameConstraints { .. }) => Reason::NameConstraints,
                _ => Reason::BadCertificate,
            },
            _ => Reason::BadCertificate,
        }
    }

    /// Classifies the error tokio-rustls returns from `accept`.
    pub fn of_io(err: &std::io::Error) -> Reason {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .map(Reason::of)
            .unwrap_or(if err.kind() == std::io::ErrorKind::TimedOut {
                Reason::Timeout
            } else {
                Reason::Protocol
            })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn labels_are_unique() {
        let mut labels: Vec<_> = Reason::ALL.iter().map(|r| r.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), Reason::ALL.len());
    }

    #[test]
    fn classifies_rustls_errors() {
        assert_eq!(
            Reason::of(&Error::NoCertificatesPresented),
            Reason::NoCertificate
        );
        assert_eq!(
            Reason::of(&CertificateError::UnknownIssuer.into()),
            Reason::UnknownCa
        );
        assert_eq!(
            Reason::of(&CertificateError::Expired.into()),
            Reason::Expired
        );
        assert_eq!(
            Reason::of(&CertificateError::NotValidYet.into()),
            Reason::NotYetValid
        );
        assert_eq!(
            Reason::of(&CertificateError::InvalidPurpose.into()),
            Reason::WrongKeyUsage
        );
        assert_eq!(
            Reason::of(&CertificateError::BadSignature.into()),
            Reason::BadSignature
        );
        let ca = CertificateError::Other(rustls::OtherError(Arc::new(CaAsClient)));
        assert_eq!(Reason::of(&ca.into()), Reason::CaAsClient);
        assert_eq!(
            Reason::of(&Error::AlertReceived(AlertDescription::UnknownCA)),
            Reason::PeerAlert
        );
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            Error::NoCertificatesPresented,
        );
        assert_eq!(Reason::of_io(&io), Reason::NoCertificate);
        assert_eq!(
            Reason::of_io(&std::io::ErrorKind::UnexpectedEof.into()),
            Reason::Protocol
        );
    }
}
