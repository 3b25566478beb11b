//! [`RedisStoreBuilder`]: servers, key names, timeouts and at-rest options.

use crate::codec::Codec;
use crate::conn::Conn;
use crate::error::{BuildError, timed};
use crate::keys::{Keys, default_user_prefix};
use crate::near::NearCache;
use crate::store::{Inner, RedisStore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{IntoConnectionInfo, ProtocolVersion};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use tessera::Clock;

/// connect-redis's default key prefix.
pub const DEFAULT_PREFIX: &str = "sess:";
/// Default bound for every Redis command (and for connecting).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// connect-redis's default `ttl`: the expiry reported for a key that has none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(86_400);
/// How long a user-index entry whose session key is missing is kept before pruning (it
/// may belong to a session being created right now).
pub const DEFAULT_INDEX_GRACE: Duration = Duration::from_secs(60);

/// How long a near-cache entry is trusted at most, even without any invalidation.
pub const DEFAULT_NEAR_CACHE_MAX_AGE: Duration = Duration::from_secs(30);

/// Builder for [`RedisStore`].
///
/// ```no_run
/// # async fn demo() -> Result<(), tessera_redis::BuildError> {
/// use std::time::Duration;
/// let store = tessera_redis::RedisStore::builder()
///     .cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
///     .prefix("myapp:sess:")
///     .command_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisStoreBuilder {
    url: Option<String>,
    cluster: Vec<String>,
    sentinel: Option<(Vec<String>, String)>,
    prefix: String,
    user_prefix: Option<String>,
    command_timeout: Duration,
    connect_timeout: Option<Duration>,
    default_ttl: Duration,
    index_grace: Duration,
    hash_ids: bool,
    lazy: bool,
    batch_commands: bool,
    clock: Clock,
    near_cache: Option<NonZeroUsize>,
    near_cache_max_age: Duration,
    #[cfg(feature = "encryption")]
    keyring: Option<crate::crypto::Keyring>,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            url: None,
            cluster: Vec::new(),
            sentinel: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            user_prefix: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: None,
            default_ttl: DEFAULT_TTL,
            index_grace: DEFAULT_INDEX_GRACE,
            hash_ids: false,
            lazy: false,
            batch_commands: true,
            clock: Clock::System,
            near_cache: None,
            near_cache_max_age: DEFAULT_NEAR_CACHE_MAX_AGE,
            #[cfg(feature = "encryption")]
            keyring: None,
        }
    }
}

impl RedisStoreBuilder {
    /// A single server (or a proxy): `redis://[user:pass@]host:port[/db]`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// A Redis Cluster, from one or more seed nodes (`redis://host:port`). Takes
    /// precedence over [`url`](Self::url).
    pub fn cluster<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.cluster = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// Redis Sentinel: the Sentinels to ask (`redis://host:port`, one or more) and the name
    /// of the monitored master (`sentinel monitor <name> …`). The store talks to whichever
    /// server Sentinel names as master and follows failovers (see the README). Takes
    /// precedence over [`url`](Self::url); [`cluster`](Self::cluster) takes precedence
    /// over it.
    pub fn sentinel<S: Into<String>>(
        mut self,
        sentinels: impl IntoIterator<Item = S>,
        master_name: impl Into<String>,
    ) -> Self {
        self.sentinel = Some((
            sentinels.into_iter().map(Into::into).collect(),
            master_name.into(),
        ));
        self
    }

    /// Key prefix of session keys (default `sess:`, connect-redis's).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Key prefix of the per-user index sets (default: the session prefix without its
    /// trailing `:` plus `-user:`, e.g. `sess-user:`). Must not start with the session
    /// prefix, or `count` would include the index keys.
    pub fn user_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.user_prefix = Some(prefix.into());
        self
    }

    /// Upper bound for every Redis command (default 1 s); an expired bound is
    /// [`StoreError::Timeout`](tessera::StoreError::Timeout) and the layer answers 503.
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = d;
        self
    }

    /// Upper bound for establishing a connection (default: the command timeout).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// The expiry reported for a key without a TTL (written by a Node app with
    /// `disableTTL`); default one day, connect-redis's `ttl`.
    pub fn default_ttl(mut self, d: Duration) -> Self {
        self.default_ttl = d;
        self
    }

    /// How old a user-index entry without a session must be before listing prunes it
    /// (default 60 s).
    pub fn index_grace(mut self, d: Duration) -> Self {
        self.index_grace = d;
        self
    }

    /// Store `base64url(SHA-256(id))` instead of the id in key names (and hash user
    /// names in index keys), so a copy of the database yields no usable session ids.
    /// Off by default: Node's connect-redis looks keys up by the plain id.
    pub fn hash_ids(mut self, on: bool) -> Self {
        self.hash_ids = on;
        self
    }

    /// Single server only: do not check the connection in [`build`](Self::build); the
    /// first command connects (the app starts even while Redis is down).
    pub fn lazy_connect(mut self, on: bool) -> Self {
        self.lazy = on;
        self
    }

    /// Single server only: send the commands of concurrent requests together, as one
    /// pipeline per scheduler pass (on by default). Each request still gets exactly its
    /// own replies; under load this saves most system calls on both sides. Turn it off to
    /// send every command on its own as soon as it is issued.
    pub fn batch_commands(mut self, on: bool) -> Self {
        self.batch_commands = on;
        self
    }

    /// Keep up to `capacity` loaded sessions in process memory and answer loads from there,
    /// coherently: Redis tells this process (server-assisted client-side caching,
    /// `CLIENT TRACKING` over RESP3) when any client changes or deletes a cached key, and
    /// the entry is dropped; a lost connection, a `FLUSHALL` or a Sentinel failover drops
    /// the whole cache. Off by default. Saves stay conditional, so a save built on a
    /// record that was already stale conflicts and is replayed as without the cache.
    ///
    /// Needs Redis 6 or later (RESP3). Memory: see the crate README (about 1.3 KB per
    /// small session). See the README for exactly what can be stale, and for how long.
    pub fn near_cache(mut self, capacity: usize) -> Self {
        self.near_cache = NonZeroUsize::new(capacity);
        self
    }

    /// The longest a near-cache entry is trusted without being read again
    /// ([`DEFAULT_NEAR_CACHE_MAX_AGE`]): the bound on staleness should a connection die
    /// silently (no reset, no error) while other clients write.
    pub fn near_cache_max_age(mut self, d: Duration) -> Self {
        self.near_cache_max_age = d;
        self
    }

    /// The time source for expiries (tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Encrypt stored values with AES-256-GCM (feature `encryption`; off by default, and
    /// encrypted values are not readable by Node).
    #[cfg(feature = "encryption")]
    pub fn encryption(mut self, keyring: crate::crypto::Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// Connects and builds the store.
    pub async fn build(self) -> Result<RedisStore, BuildError> {
        if self.command_timeout.is_zero() {
            return Err(BuildError::InvalidOption(
                "command_timeout must be positive",
            ));
        }
        if self.default_ttl < Duration::from_millis(1) {
            return Err(BuildError::InvalidOption(
                "default_ttl must be at least 1 ms",
            ));
        }
        let user_prefix = self
            .user_prefix
            .unwrap_or_else(|| default_user_prefix(&self.prefix));
        if user_prefix.starts_with(&self.prefix) {
            return Err(BuildError::InvalidOption(
                "user_prefix must not start with the session prefix",
            ));
        }
        let timeout = self.command_timeout;
        let connect_timeout = self.connect_timeout.unwrap_or(timeout);
        let near = self
            .near_cache
            .map(|cap| Arc::new(NearCache::new(cap, self.near_cache_max_age)));
        // Pushes (invalidations, and redis-rs's notice of a lost connection) go to the
        // cache for as long as the store exists.
        let pushes = near.as_ref().map(|c| {
            let weak = Arc::downgrade(c);
            move |push: redis::PushInfo| {
                if let Some(cache) = weak.upgrade() {
                    cache.on_push(push);
                }
                Ok::<(), std::convert::Infallible>(())
            }
        });
        let conn = if !self.cluster.is_empty() {
            let mut builder = ClusterClientBuilder::new(self.cluster.clone())
                .connection_timeout(connect_timeout)
                .response_timeout(timeout);
            if let Some(pushes) = pushes {
                builder = builder
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(pushes);
            }
            let client = builder.build().map_err(BuildError::InvalidUrl)?;
            let c = timed(connect_timeout, client.get_async_connection())
                .await
                .map_err(BuildError::Connect)?;
            Conn::Cluster(c)
        } else {
            let mut config = manager_config(connect_timeout, timeout);
            if let Some(pushes) = pushes {
                config = config.set_push_sender(pushes);
            }
            let mut conn = if let Some((sentinels, master)) = &self.sentinel {
                let flush = near.clone().map(|c| {
                    Arc::new(move || c.flush("the sentinel master moved"))
                        as Arc<dyn Fn() + Send + Sync>
                });
                Conn::Sentinel(
                    crate::sentinel::SentinelConn::connect(
                        sentinels,
                        master,
                        crate::sentinel::Options {
                            config,
                            batch: self.batch_commands,
                            timeout: connect_timeout,
                            resp3: near.is_some(),
                            on_switch: flush,
                        },
                    )
                    .await
                    .map_err(|e| BuildError::Connect(crate::error::map(e, connect_timeout)))?,
                )
            } else {
                let url = self.url.as_deref().ok_or(BuildError::NoServer)?;
                let mut info = url.into_connection_info().map_err(BuildError::InvalidUrl)?;
                if near.is_some() {
                    let settings = info.redis_settings().clone();
                    info = info.set_redis_settings(settings.set_protocol(ProtocolVersion::RESP3));
                }
                let client = redis::Client::open(info).map_err(BuildError::InvalidUrl)?;
                let manager = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(BuildError::InvalidUrl)?;
                Conn::single(manager, self.batch_commands)
            };
            if !self.lazy {
                timed(timeout, redis::cmd("PING").query_async::<()>(&mut conn))
                    .await
                    .map_err(BuildError::Connect)?;
            }
            conn
        };
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                keys: Keys {
                    prefix: self.prefix,
                    user_prefix,
                    hash_ids: self.hash_ids,
                },
                codec: Codec {
                    #[cfg(feature = "encryption")]
                    keyring: self.keyring,
                },
                timeout,
                default_ttl: self.default_ttl,
                // With the near cache the entries hold the expiry, and a miss reads `PTTL`.
                memo: crate::memo::ExpiryMemo::new(if near.is_some() { 0 } else { 100_000 }),
                index_grace: self.index_grace,
                clock: self.clock,
                near,
            }),
        })
    }
}

/// Reconnecting single-server connections: bounded connect and response times, quick
/// backoff.
fn manager_config(connect_timeout: Duration, timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(timeout))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}
