//! Just enough DER to take a certificate apart for signature checks: the exact bytes that were
//! signed, the algorithm identifiers and the key bits. Everything else is read with x509-parser.

/// A certificate split into the parts a signature check needs.
pub(crate) struct SignedCert<'a> {
    /// The whole `tbsCertificate` TLV: the signed message.
    pub tbs: &'a [u8],
    /// Contents of the outer `signatureAlgorithm` SEQUENCE.
    pub algorithm: &'a [u8],
    /// The signature bits.
    pub signature: &'a [u8],
}

/// A `SubjectPublicKeyInfo` split into algorithm and key.
pub(crate) struct Spki<'a> {
    /// Contents of the `algorithm` SEQUENCE (what `AlgorithmIdentifier` holds in pki-types).
    pub algorithm: &'a [u8],
    /// The `subjectPublicKey` bits.
    pub key: &'a [u8],
}

const SEQUENCE: u8 = 0x30;
const BIT_STRING: u8 = 0x03;

/// One tag-length-value element and what follows it.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    contents: &'a [u8],
    rest: &'a [u8],
}

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || after_len.len() < n {
            return None;
        }
        let len = after_len[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        // DER requires the shortest length form.
        if len < 0x80 || after_len[0] == 0 {
            return None;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    if input.len() < end {
        return None;
    }
    Some(Tlv {
        tag,
        whole: &input[..end],
        contents: &input[header..end],
        rest: &input[end..],
    })
}

fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8], &[u8])> {
    let t = tlv(input)?;
    (t.tag == want).then_some((t.whole, t.contents, t.rest))
}

fn bits(contents: &[u8]) -> Option<&[u8]> {
    // Keys and signatures are whole bytes: the unused-bits count must be zero.
    match contents.split_first()? {
        (0, bits) => Some(bits),
        _ => None,
    }
}

pub(crate) fn signed_cert(der: &[u8]) -> Option<SignedCert<'_>> {
    let (_, cert, rest) = expect(der, SEQUENCE)?;
    if !rest.is_empty() {
        return None;
    }
    let (tbs, _, rest) = expect(cert, SEQUENCE)?;
    let (_, algorithm, rest) = expect(rest, SEQUENCE)?;
    let (_, sig, rest) = expect(rest, BIT_STRING)?;
    if !rest.is_empty() {
        return None;
    }
    Some(SignedCert {
        tbs,
        algorithm,
        signature: bits(sig)?,
    })
}

pub(crate) fn spki(der: &[u8]) -> Option<Spki<'_>> {
    let (_, info, _) = expect(der, SEQUENCE)?;
    let (_, algorithm, rest) = expect(info, SEQUENCE)?;
    let (_, key, rest) = expect(rest, BIT_STRING)?;
    if !rest.is_empty() {
        return None;
    }
    Some(Spki {
        algorithm,
        key: bits(key)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths() {
        let short = [0x30, 0x03, 0x02, 0x01, 0x05];
        let t = tlv(&short).unwrap();
        assert_eq!(
            (t.tag, t.whole.len(), t.contents, t.rest.len()),
            (0x30, 5, &short[2..], 0)
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(tlv(&long).unwrap().contents.len(), 0x80);
    }

    #[test]
    fn rejects_truncated_and_non_minimal() {
        assert!(tlv(&[0x30, 0x05, 0x00]).is_none());
        assert!(
            tlv(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]).is_none(),
            "non-minimal length"
        );
        assert!(tlv(&[0x30]).is_none());
        assert!(bits(&[1, 0xff]).is_none(), "unused bits");
    }

    #[test]
    fn splits_a_real_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let parts = signed_cert(cert.der()).unwrap();
        assert_eq!(parts.tbs[0], SEQUENCE);
        assert!(!parts.signature.is_empty());
        let spki_der = rcgen::PublicKeyData::subject_public_key_info(&key);
        let info = spki(&spki_der).unwrap();
        assert_eq!(info.key.len(), 65, "uncompressed P-256 point");
        assert!(signed_cert(&cert.der()[..cert.der().len() - 1]).is_none());
    }
}
