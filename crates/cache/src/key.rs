use sha2::{Digest, Sha256};
use std::{
    fmt,
    hash::{Hash, Hasher},
    sync::Arc,
};

/// A manifest cache key: a sha256 over named request parts, and optionally the entry's name
/// in a shared store.
///
/// Compared and hashed by the digest alone, so the in-process LRU and the single flight
/// ignore the name; cloning one is a copy plus a reference count.
#[derive(Clone)]
pub struct Key {
    digest: [u8; 32],
    name: Option<Arc<Name>>,
}

/// What a shared store calls an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// The entry's name in the store (e.g. upstream's `mfst|…` string).
    pub text: String,
    /// Kept inside the stored value and compared on read: a mismatch is a miss. It tells
    /// entries apart whose names collide, or that were written under other settings.
    pub check: [u8; 32],
}

impl Key {
    /// The digest, e.g. to name the entry in a shared store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The same key, named for shared stores.
    pub fn named(self, text: String, check: [u8; 32]) -> Key {
        Key {
            name: Some(Arc::new(Name { text, check })),
            ..self
        }
    }

    /// The name for shared stores; `None` keeps the entry out of them.
    pub fn name(&self) -> Option<&Name> {
        self.name.as_deref()
    }

    /// The digest alone, for maps that keep keys long (the LRU).
    pub(crate) fn unnamed(&self) -> Key {
        Key {
            digest: self.digest,
            name: None,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.digest.hash(state);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(")?;
        for byte in self.digest {
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
        Key {
            digest: self.0.finalize().into(),
            name: None,
        }
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
    fn names_do_not_affect_equality_or_hash() {
        use std::collections::HashSet;
        let plain = key(&[("repo", "r")]);
        let named = plain.clone().named("mfst|a".into(), [1; 32]);
        let other = plain.clone().named("mfst|b".into(), [2; 32]);
        assert_eq!(plain, named);
        assert_eq!(named, other);
        assert_eq!(
            HashSet::from([plain.clone(), named.clone(), other]).len(),
            1
        );
        assert_eq!(plain.name(), None);
        assert_eq!(
            named.name(),
            Some(&Name {
                text: "mfst|a".into(),
                check: [1; 32]
            })
        );
        assert_eq!(named.unnamed().name(), None);
        assert_ne!(named, key(&[("repo", "s")]).named("mfst|a".into(), [1; 32]));
    }

    #[test]
    fn debug_is_hex() {
        let text = format!("{:?}", KeyBuilder::new().build());
        assert_eq!(text.len(), "Key()".len() + 64);
        assert!(text[4..68].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
