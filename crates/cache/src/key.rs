use sha2::{Digest, Sha256};
use std::fmt;

/// A manifest cache key: a sha256 over named request parts.
///
/// Fixed-size and `Copy`, so the single-flight map and the LRU hold it without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    /// The digest, e.g. to name the entry in a shared store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// Hashes named parts into a [`Key`]; the order of the calls is part of the key.
///
/// A manifest key should cover what upstream's `mfst|…` key does: the repository URL
/// (normalized, without credentials), the resolved commit, the application source with its
/// ref sources and their resolved commits, the namespace, the tracking method with the app
/// label key and the installation id, the kube version, the API versions, the source
/// integrity policy and the app name. Callers add them in one fixed order.
#[derive(Clone)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    pub fn new() -> Self {
        // A version tag, so a change of key layout cannot collide with old entries.
        Self(Sha256::new_with_prefix(b"repo-cache/manifest/1"))
    }

    pub fn part(mut self, name: &str, value: &[u8]) -> Self {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") hash differently.
        for field in [name.as_bytes(), value] {
            self.0.update((field.len() as u64).to_le_bytes());
            self.0.update(field);
        }
        self
    }

    pub fn build(self) -> Key {
        Key(self.0.finalize().into())
    }
}

impl Default for KeyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[(&str, &str)]) -> Key {
        parts
            .iter()
            .fold(KeyBuilder::new(), |b, (n, v)| b.part(n, v.as_bytes()))
            .build()
    }

    #[test]
    fn identical_parts_give_identical_keys() {
        let parts = [("repo", "https://git.example/a"), ("commit", "abc")];
        assert_eq!(key(&parts), key(&parts));
    }

    #[test]
    fn order_matters() {
        let a = key(&[("repo", "r"), ("commit", "c")]);
        let b = key(&[("commit", "c"), ("repo", "r")]);
        assert_ne!(a, b);
    }

    #[test]
    fn values_and_names_matter() {
        let base = key(&[("repo", "r"), ("commit", "c")]);
        assert_ne!(base, key(&[("repo", "r"), ("commit", "d")]));
        assert_ne!(base, key(&[("repo", "r"), ("sha", "c")]));
        assert_ne!(base, key(&[("repo", "r")]));
    }

    #[test]
    fn boundaries_matter() {
        assert_ne!(key(&[("a", "bc")]), key(&[("ab", "c")]));
        assert_ne!(
            key(&[("n", "ab"), ("n", "")]),
            key(&[("n", "a"), ("n", "b")])
        );
    }

    #[test]
    fn debug_is_hex() {
        let text = format!("{:?}", KeyBuilder::new().build());
        assert_eq!(text.len(), "Key()".len() + 64);
        assert!(text[4..68].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
