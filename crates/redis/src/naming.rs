//! Entry names and value encoding exactly as upstream's util/cache, so upstream's API server
//! reads and renames the same entries: `<ARGOCD_REDIS_KEY_PREFIX><key>|1.8.3[.gz]`, values
//! gzipped (Go's default level) when compression is on.

use std::io::{Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::{Compression, Error};

/// Upstream's `common.CacheVersion`, appended to every entry name.
pub const CACHE_VERSION: &str = "1.8.3";

/// Redis' own limit on a string value (proto-max-bulk-len); a value that inflates past it is
/// not one we wrote.
const MAX_VALUE: u64 = 512 << 20;

#[derive(Debug, Clone)]
pub(crate) struct Naming {
    prefix: String,
    compression: Compression,
}

impl Naming {
    pub(crate) fn new(prefix: String, compression: Compression) -> Self {
        Self {
            prefix,
            compression,
        }
    }

    /// The Redis name of upstream's logical `key`.
    pub(crate) fn entry(&self, key: &str) -> String {
        let gz = match self.compression {
            Compression::Gzip => ".gz",
            Compression::None => "",
        };
        format!("{}{key}|{CACHE_VERSION}{gz}", self.prefix)
    }

    /// The Redis name of the lock guarding `key` (ours only; its value is never compressed).
    pub(crate) fn lock(&self, key: &str) -> String {
        format!("{}lock|{key}|{CACHE_VERSION}", self.prefix)
    }

    pub(crate) fn encode(&self, value: Vec<u8>) -> Vec<u8> {
        match self.compression {
            Compression::None => value,
            Compression::Gzip => {
                let mut gz = GzEncoder::new(
                    Vec::with_capacity(value.len() / 4 + 32),
                    flate2::Compression::default(),
                );
                // Writing into a Vec cannot fail.
                gz.write_all(&value).expect("gzip into memory");
                gz.finish().expect("gzip into memory")
            }
        }
    }

    /// The stored bytes back; a gzip stream that is invalid, truncated (a partial write) or
    /// fails its CRC is [`Error::Corrupt`].
    pub(crate) fn decode(&self, stored: Vec<u8>) -> Result<Vec<u8>, Error> {
        match self.compression {
            Compression::None => Ok(stored),
            Compression::Gzip => {
                let mut out = Vec::with_capacity(stored.len() * 4);
                // Go's gzip.Reader reads concatenated members too, and refuses trailing bytes.
                MultiGzDecoder::new(stored.as_slice())
                    .take(MAX_VALUE + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::Corrupt(format!("not gzip: {e}")))?;
                if out.len() as u64 > MAX_VALUE {
                    return Err(Error::Corrupt("inflates beyond 512 MiB".into()));
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_upstream() {
        let gz = Naming::new("team-a:".into(), Compression::Gzip);
        assert_eq!(gz.entry("mfst|x|y"), "team-a:mfst|x|y|1.8.3.gz");
        assert_eq!(gz.lock("mfst|x|y"), "team-a:lock|mfst|x|y|1.8.3");
        let plain = Naming::new(String::new(), Compression::None);
        assert_eq!(
            plain.entry("git-refs|https://h/r"),
            "git-refs|https://h/r|1.8.3"
        );
    }

    #[test]
    fn gzip_round_trip_and_corruption() {
        let gz = Naming::new(String::new(), Compression::Gzip);
        let stored = gz.encode(b"{\"a\":1}\n".to_vec());
        assert_eq!(&stored[..2], &[0x1f, 0x8b]);
        assert_eq!(gz.decode(stored.clone()).unwrap(), b"{\"a\":1}\n");
        let truncated = stored[..stored.len() - 3].to_vec();
        assert!(matches!(gz.decode(truncated), Err(Error::Corrupt(_))));
        let mut flipped = stored;
        let n = flipped.len();
        flipped[n - 8] ^= 1; // the CRC
        assert!(matches!(gz.decode(flipped), Err(Error::Corrupt(_))));
        assert!(matches!(
            gz.decode(b"plain".to_vec()),
            Err(Error::Corrupt(_))
        ));
    }
}
