//! The shared cache's Redis client. Entries are named and encoded as upstream's util/cache
//! (`<prefix><key>|1.8.3[.gz]`, gzip by default) so upstream's API server finds them; locks
//! (`<prefix>lock|<key>|1.8.3`) are ours. Every call ends within the operation timeout: while
//! Redis is unreachable calls fail at once and the client reconnects in the background with
//! backoff. Callers treat any error as a miss.
#![forbid(unsafe_code)]

mod connect;
mod error;
mod gate;
mod naming;
mod observer;
mod settings;
mod tls;

pub use error::{Cause, Error};
pub use naming::CACHE_VERSION;
pub use observer::Observer;
pub use settings::{Compression, Secret, Server, Settings, Tls};

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::error::Error as Fred;
use fred::prelude::{ClientLike, EventInterface, KeysInterface, LuaInterface};
use fred::types::config::Options;
use fred::types::{Expiration, SetOptions, Value};
use tokio::task::JoinHandle;

use gate::Gate;
use naming::Naming;
use observer::Limiter;

/// Moves an entry and gives it a new TTL in one step; 0 when the source is missing (upstream's
/// RENAME answers "ERR no such key", which it also treats as a miss).
const RENAME: &str = "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end \
    redis.call('RENAME', KEYS[1], KEYS[2]) \
    redis.call('PEXPIRE', KEYS[2], ARGV[1]) \
    return 1";
/// Deletes a lock only while `owner` holds it.
const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) end return 0";
/// Values at least this large are (de)compressed on the blocking pool.
const LARGE: usize = 128 << 10;
/// At most one warning per kind in this period.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// A connection to Redis, shared by its clones.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: fred::clients::Client,
    options: Options,
    naming: Naming,
    timeout: Duration,
    observer: Arc<dyn Observer>,
    gate: Arc<Gate>,
    failures: Limiter,
    tasks: Vec<JoinHandle<Result<(), Fred>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The router task owns the connection; ending it closes the socket.
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Starts connecting in the background and returns at once; calls made before the first
    /// connection fail with [`Cause::NotConnected`]. Needs a Tokio runtime.
    pub fn new(settings: Settings, observer: Arc<dyn Observer>) -> Result<Self, Error> {
        tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("the Redis client needs a Tokio runtime".into()))?;
        if settings.timeout.is_zero() {
            // fred reads a zero timeout as none: calls could wait forever.
            return Err(Error::Config(
                "the operation timeout must be above zero".into(),
            ));
        }
        let client = connect::client(&settings)?;
        let gate = Arc::new(Gate::new());
        let events = tokio::spawn(watch(&client, gate.clone()));
        let router = client.connect();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                options: Options {
                    timeout: Some(settings.timeout),
                    fail_fast: true,
                    max_attempts: Some(1),
                    ..Options::default()
                },
                naming: Naming::new(settings.prefix, settings.compression),
                timeout: settings.timeout,
                observer,
                gate,
                failures: Limiter::new(WARN_EVERY),
                tasks: vec![router, events],
            }),
        })
    }

    /// Whether a connection is up now (and calls are sent).
    pub fn is_connected(&self) -> bool {
        self.inner.client.is_connected() && self.inner.gate.cause().is_none()
    }

    /// Waits up to `within` for a connection (for startup logs and tests); false if none came.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.is_connected() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// The value of upstream's `key`, decompressed; `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let name = self.inner.naming.entry(key);
        let stored: Option<Vec<u8>> = self.run("get", self.client().get(name)).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let naming = self.inner.naming.clone();
        let value = if stored.len() >= LARGE {
            blocking(move || naming.decode(stored)).await
        } else {
            naming.decode(stored)
        };
        value.map(Some).inspect_err(|e| self.warn("get", e))
    }

    /// Stores `value` (compressed per the settings) under upstream's `key` for `ttl` (1 ms to
    /// 100 years). Taken by value: a large one moves to the blocking pool, and an uncompressed
    /// one is sent as it is, without a copy.
    pub async fn set(
        &self,
        key: &str,
        value: impl Into<Vec<u8>>,
        ttl: Duration,
    ) -> Result<(), Error> {
        let name = self.inner.naming.entry(key);
        let value = value.into();
        let stored = if value.len() >= LARGE {
            let naming = self.inner.naming.clone();
            blocking(move || Ok(naming.encode(value))).await?
        } else {
            self.inner.naming.encode(value)
        };
        self.run(
            "set",
            self.client()
                .set::<(), _, _>(name, stored, Some(px(ttl)), None, false),
        )
        .await
    }

    /// Moves `from` to `to` (replacing it) with a fresh `ttl`; false when `from` is missing.
    pub async fn rename(&self, from: &str, to: &str, ttl: Duration) -> Result<bool, Error> {
        let keys = vec![self.inner.naming.entry(from), self.inner.naming.entry(to)];
        let moved: i64 = self
            .run("rename", self.client().eval(RENAME, keys, millis(ttl)))
            .await?;
        Ok(moved == 1)
    }

    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        let name = self.inner.naming.entry(key);
        self.run("del", self.client().del::<(), _>(name)).await
    }

    /// Takes the lock on `key` for `owner` unless someone holds it (SET NX PX); true when taken.
    pub async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, Error> {
        let name = self.inner.naming.lock(key);
        let reply: Value = self
            .run(
                "set",
                self.client()
                    .set(name, owner, Some(px(ttl)), Some(SetOptions::NX), false),
            )
            .await?;
        Ok(!reply.is_null())
    }

    /// Releases the lock on `key` if `owner` still holds it (it may have expired and been
    /// taken by another).
    pub async fn unlock(&self, key: &str, owner: &str) -> Result<(), Error> {
        let name = self.inner.naming.lock(key);
        self.run(
            "eval",
            self.client().eval::<(), _, _, _>(UNLOCK, name, owner),
        )
        .await
    }

    fn client(&self) -> fred::clients::WithOptions<fred::clients::Client> {
        self.inner.client.with_options(&self.inner.options)
    }

    async fn run<T>(
        &self,
        command: &'static str,
        op: impl Future<Output = Result<T, Fred>>,
    ) -> Result<T, Error> {
        let start = Instant::now();
        if let Some(cause) = self.inner.gate.closed() {
            self.inner.observer.request(command, start.elapsed(), true);
            return Err(Error::Unavailable(cause));
        }
        let generation = self.inner.gate.generation();
        let result = op.await;
        self.inner
            .observer
            .request(command, start.elapsed(), result.is_err());
        result.map_err(|e| {
            let err = Error::of(&e, self.inner.timeout, self.inner.gate.cause());
            match &err {
                // Connection failures are logged once by the watcher.
                Error::Unavailable(cause) => {
                    if cause.is_lost_connection() {
                        self.inner.gate.lost(cause.clone(), Some(generation));
                    }
                }
                _ => self.warn(command, &err),
            }
            err
        })
    }

    fn warn(&self, command: &'static str, err: &Error) {
        if let Some(held) = self.inner.failures.allow() {
            tracing::warn!(command, error = %err, held_back = held, "Redis command failed; treated as a cache miss");
        }
    }
}

/// Follows fred's connection events: a drop closes the gate (and is logged, rate-limited), a
/// connection opens it. One task, errors first: a drop is always reported before the
/// reconnection that ends it.
fn watch(
    client: &fred::clients::Client,
    gate: Arc<Gate>,
) -> impl Future<Output = Result<(), Fred>> + Send + 'static {
    use tokio::sync::broadcast::error::RecvError;
    let (mut errors, mut reconnects) = (client.error_rx(), client.reconnect_rx());
    let lost = Limiter::new(WARN_EVERY);
    async move {
        loop {
            tokio::select! {
                biased;
                event = errors.recv() => match event {
                    Ok((err, server)) => {
                        let cause = Cause::of(&err).unwrap_or_else(|| Cause::Io(err.details().to_string()));
                        if let Some(held) = lost.allow() {
                            let server = server.map(|s| s.to_string()).unwrap_or_default();
                            tracing::warn!(error = %cause, %server, held_back = held, "Redis connection failed; the shared cache is skipped while reconnecting with backoff");
                        }
                        gate.lost(cause, None);
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Ok(()),
                },
                event = reconnects.recv() => match event {
                    // A lagged receiver missed reconnections: connected at least once since.
                    Ok(_) | Err(RecvError::Lagged(_)) => match gate.connected() {
                        Some(Cause::NotConnected) | None => tracing::debug!("Redis connected"),
                        Some(_) => tracing::info!("Redis connected again"),
                    },
                    Err(RecvError::Closed) => return Ok(()),
                },
            }
        }
    }
}

fn px(ttl: Duration) -> Expiration {
    Expiration::PX(millis(ttl))
}

/// A TTL in milliseconds, 1 ms to 100 years (Redis refuses one that overflows its clock).
fn millis(ttl: Duration) -> i64 {
    const CENTURY_MS: u128 = 100 * 365 * 24 * 3600 * 1000;
    ttl.as_millis().clamp(1, CENTURY_MS) as i64
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(Error::Corrupt(format!("codec task: {e}"))))
}
