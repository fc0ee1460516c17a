//! Manifest entries in Redis under upstream's names and values, as a cache [`Store`] and the
//! replicas' render [`Locks`]. A key without a name is not shared. Redis failures and unusable
//! values are misses (repo-redis logs its own failures); a damaged value is counted.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use repo_cache::{Entry, Key, Locks, Pending, Store};
use repo_redis::Redis;

use super::name::checks_integrity;
use super::value::{decode, encode};

/// The shared tier of the manifest cache.
pub(crate) struct Shared {
    redis: Redis,
    /// `--repo-cache-expiration`, for every entry written or moved.
    ttl: Duration,
    /// `argocd_repo_server_cache_corrupt_total`.
    corrupt: Counter,
}

impl Shared {
    pub(crate) fn new(redis: Redis, ttl: Duration, corrupt: Counter) -> Self {
        Self {
            redis,
            ttl,
            corrupt,
        }
    }

    /// Values read that were damaged (bad gzip, JSON or hash), each answered as a miss.
    #[cfg(test)]
    fn corrupt(&self) -> u64 {
        self.corrupt.get()
    }

    async fn read(&self, key: &Key) -> Option<Entry> {
        let name = key.name()?;
        let bytes = match self.redis.get(&name.text).await {
            Ok(bytes) => bytes?,
            Err(repo_redis::Error::Corrupt(_)) => {
                self.corrupt.inc();
                return None;
            }
            Err(_) => return None,
        };
        match decode(&bytes, &name.check) {
            Ok(entry) => entry,
            Err(why) => {
                self.corrupt.inc();
                tracing::warn!(entry = %name.text, error = %why, "damaged manifest cache entry in Redis; rendering again");
                None
            }
        }
    }

    async fn write(&self, key: &Key, entry: Entry) {
        let Some(name) = key.name() else { return };
        let sealed = checks_integrity(&name.text);
        match encode(&entry, &name.check, sealed) {
            Ok(value) => {
                let _ = self.redis.set(&name.text, value, self.ttl).await;
            }
            Err(why) => tracing::warn!(error = %why, "manifest cache entry not shared"),
        }
    }
}

impl Store for Shared {
    fn get<'a>(&'a self, key: &'a Key) -> Pending<'a, Option<Entry>> {
        Box::pin(self.read(key))
    }

    fn put<'a>(&'a self, key: &'a Key, entry: Entry) -> Pending<'a, ()> {
        Box::pin(self.write(key, entry))
    }

    fn remove<'a>(&'a self, key: &'a Key) -> Pending<'a, ()> {
        Box::pin(async move {
            if let Some(name) = key.name() {
                let _ = self.redis.delete(&name.text).await;
            }
        })
    }

    /// Redis `RENAME` with a fresh TTL, as upstream's `SetNewRevisionManifests`; the value,
    /// and so its check, moves unchanged.
    fn rename<'a>(&'a self, from: &'a Key, to: &'a Key) -> Pending<'a, bool> {
        Box::pin(async move {
            let (Some(from), Some(to)) = (from.name(), to.name()) else {
                return false;
            };
            (self.redis.rename(&from.text, &to.text, self.ttl).await).unwrap_or(false)
        })
    }
}

/// Without a name or an answer the lock is granted: the caller renders as it would alone.
impl Locks for Shared {
    fn try_lock<'a>(&'a self, key: &'a Key, owner: &'a str, ttl: Duration) -> Pending<'a, bool> {
        Box::pin(async move {
            let Some(name) = key.name() else { return true };
            (self.redis.try_lock(&name.text, owner, ttl).await).unwrap_or(true)
        })
    }

    fn unlock<'a>(&'a self, key: &'a Key, owner: &'a str) -> Pending<'a, ()> {
        Box::pin(async move {
            if let Some(name) = key.name() {
                let _ = self.redis.unlock(&name.text, owner).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message;
    use repo_cache::{Failure, Failures, KeyBuilder};
    use repo_proto::repository::ManifestResponse;
    use repo_redis::{Compression, Server, Settings};
    use repo_testkit::redis::{Instance, Options, Reply, Tools};

    use super::*;

    const TTL: Duration = Duration::from_secs(600);

    fn key(name: &str, check: u8) -> Key {
        KeyBuilder::new()
            .part("name", name.as_bytes())
            .part("check", &[check])
            .build()
            .named(name.to_string(), [check; 32])
    }

    fn manifests(text: &str) -> Entry {
        let response = ManifestResponse {
            manifests: vec![text.to_string()],
            source_type: "Directory".into(),
            ..Default::default()
        };
        Entry::Manifests(Arc::new(response.encode_to_vec()))
    }

    async fn shared(server: &Instance, compression: Compression) -> Shared {
        let settings = Settings {
            server: Server::Single {
                host: "127.0.0.1".into(),
                port: server.port,
            },
            db: 0,
            username: None,
            password: None,
            sentinel_username: None,
            sentinel_password: None,
            tls: None,
            compression,
            prefix: String::new(),
            timeout: Duration::from_secs(5),
        };
        let redis = Redis::new(settings, Arc::new(())).unwrap();
        assert!(redis.wait_connected(Duration::from_secs(60)).await);
        Shared::new(redis, TTL, Counter::default())
    }

    fn server() -> Option<Instance> {
        Some(Instance::server(&Tools::find()?, &Options::default()))
    }

    fn stored(server: &Instance, name: &str) -> Vec<u8> {
        match server.command(&["GET", name]) {
            Reply::Bulk(Some(value)) => value,
            other => panic!("GET {name}: {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_round_trip_and_move_under_upstreams_names() {
        let Some(server) = server() else { return };
        let store = shared(&server, Compression::Gzip).await;
        let (at_c1, at_c2) = (
            key("mfst|l|app|c1|ns|1|nil", 1),
            key("mfst|l|app|c2|ns|1|nil", 1),
        );
        assert_eq!(store.get(&at_c1).await, None);
        store.put(&at_c1, manifests("a")).await;
        assert_eq!(store.get(&at_c1).await, Some(manifests("a")));
        let failed = Entry::Failed(Failures {
            last: Failure {
                code: 3,
                message: "bad".into(),
            },
            count: 2,
            since: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            served: 0,
        });
        let other = key("mfst|l|other|c1|ns|1|nil", 1);
        store.put(&other, failed.clone()).await;
        assert_eq!(store.get(&other).await, Some(failed));

        assert!(store.rename(&at_c1, &at_c2).await);
        assert_eq!(store.get(&at_c1).await, None);
        assert_eq!(store.get(&at_c2).await, Some(manifests("a")));
        let ttl = server.command(&["PTTL", "mfst|l|app|c2|ns|1|nil|1.8.3.gz"]);
        assert!(
            matches!(ttl, Reply::Int(ms) if ms > 0 && ms <= 600_000),
            "{ttl:?}"
        );
        assert!(!store.rename(&at_c1, &at_c2).await, "nothing left to move");

        store.remove(&at_c2).await;
        assert_eq!(store.get(&at_c2).await, None);
        assert_eq!(store.corrupt(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn damaged_values_and_other_checks_are_misses() {
        let Some(server) = server() else { return };
        let store = shared(&server, Compression::None).await;
        let name = "mfst|l|app|c1|ns|1|nil";
        store.put(&key(name, 1), manifests("a")).await;
        assert_eq!(store.get(&key(name, 2)).await, None, "another check");
        assert_eq!(store.corrupt(), 0);
        assert_eq!(store.get(&key(name, 1)).await, Some(manifests("a")));

        // One byte of the manifests changed: upstream's cacheEntryHash no longer matches.
        let raw = format!("{name}|1.8.3");
        let value = String::from_utf8(stored(&server, &raw)).unwrap();
        let flipped = value.replacen(r#"["a"]"#, r#"["b"]"#, 1);
        assert_ne!(flipped, value);
        server.command(&["SET", &raw, &flipped]);
        assert_eq!(store.get(&key(name, 1)).await, None);
        assert_eq!(store.corrupt(), 1);

        // An entry upstream would keep a source-integrity verdict in fails upstream's check.
        let policies = "mfst|l|app|c1|ns|1|&SourceIntegrity{Git:&SourceIntegrityGit{Policies:[]*SourceIntegrityGitPolicy{},},}";
        store.put(&key(policies, 1), manifests("a")).await;
        let value = stored(&server, &format!("{policies}|1.8.3"));
        assert!(value.starts_with(br#"{"cacheEntryHash":"sealed:"#));
        assert_eq!(store.get(&key(policies, 1)).await, Some(manifests("a")));

        // Bad gzip is a miss too.
        let gzip = shared(&server, Compression::Gzip).await;
        gzip.put(&key(name, 1), manifests("a")).await;
        let raw = format!("{name}|1.8.3.gz");
        let mut value = stored(&server, &raw);
        let middle = value.len() / 2;
        value[middle] ^= 0xff;
        server.command(&[b"SET".as_slice(), raw.as_bytes(), value.as_slice()]);
        assert_eq!(gzip.get(&key(name, 1)).await, None);
        assert_eq!(gzip.corrupt(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unnamed_keys_are_not_shared_and_locks_are_exclusive() {
        let Some(server) = server() else { return };
        let store = shared(&server, Compression::Gzip).await;
        let unnamed = KeyBuilder::new().part("x", b"y").build();
        store.put(&unnamed, manifests("a")).await;
        assert_eq!(store.get(&unnamed).await, None);
        assert_eq!(server.command(&["DBSIZE"]), Reply::Int(0));
        assert!(store.try_lock(&unnamed, "me", TTL).await, "granted");

        let named = key("mfst|l|app|c1|ns|1|nil", 1);
        assert!(store.try_lock(&named, "me", TTL).await);
        assert!(!store.try_lock(&named, "you", TTL).await);
        store.unlock(&named, "you").await;
        assert!(
            !store.try_lock(&named, "you", TTL).await,
            "only the owner unlocks"
        );
        store.unlock(&named, "me").await;
        assert!(store.try_lock(&named, "you", TTL).await);
    }
}
