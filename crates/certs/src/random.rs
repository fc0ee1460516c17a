//! Randomness from the workspace's crypto provider, so that no second generator enters the build.

use rcgen::SerialNumber;

use crate::Error;

fn fill<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    repo_tls::provider()
        .secure_random
        .fill(&mut buf)
        .map_err(|_| Error::Random)?;
    Ok(buf)
}

/// A 128-bit serial number. The top bit is cleared so the INTEGER is positive, and the next one
/// set so it always takes the full 16 octets and can never be zero.
pub(crate) fn serial() -> Result<SerialNumber, Error> {
    let mut bytes = fill::<16>()?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// A suffix that keeps concurrent temporary files apart.
pub(crate) fn suffix() -> Result<String, Error> {
    Ok(hex::encode(fill::<8>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_full_width_and_distinct() {
        let a = serial().unwrap().to_bytes();
        let b = serial().unwrap().to_bytes();
        assert_eq!(a.len(), 16);
        assert!(a[0] & 0x80 == 0 && a[0] & 0x40 != 0);
        assert_ne!(a, b);
    }
}
