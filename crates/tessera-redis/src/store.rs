//! [`RedisStore`]: the store's state and its core operations (connection, keys, decoding,
//! the uncached load and the conditional save). The `SessionStore` implementation is in
//! `session_store.rs`; the near cache's paths in `store_near.rs`; the user index in
//! `user_index.rs`.

use crate::codec::{Codec, version, version_hex};
use crate::config::RedisStoreBuilder;
use crate::conn::Conn;
use crate::error::{from_value, replies_of, timed};
use crate::keys::Keys;
use crate::scripts::{self, SAVE};
use redis::Value;
use std::sync::Arc;
use std::time::Duration;
use tessera::{Clock, Record, SaveOutcome, SessionId, StoreError, StoredMeta};
use time::OffsetDateTime;

/// `record` as the next load would return it once saved with version `version`: the
/// stored JSON keeps instants to the millisecond.
pub(crate) fn as_stored(mut r: Record, version: u64) -> Record {
    let ms = |t: OffsetDateTime| {
        t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(t)
    };
    r.version = version;
    r.created_at = ms(r.created_at);
    r.cookie.expires = r.cookie.expires.map(ms);
    r
}

/// A successful save, for the near cache's bookkeeping.
pub(crate) struct Written {
    pub version: u64,
    pub key: String,
    pub snapshot: Option<u64>,
    pub size: usize,
}

/// A session store on Redis or Redis Cluster, compatible with connect-redis.
///
/// Cheap to clone (one shared, multiplexed connection). See the crate documentation for
/// the key layout and the commands each operation sends.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub conn: Conn,
    pub keys: Keys,
    pub codec: Codec,
    pub timeout: Duration,
    pub default_ttl: Duration,
    pub index_grace: Duration,
    pub clock: Clock,
    pub memo: crate::memo::ExpiryMemo,
    pub near: Option<Arc<crate::near::NearCache>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.inner.conn.is_cluster())
            .field("prefix", &self.inner.keys.prefix)
            .field("user_prefix", &self.inner.keys.user_prefix)
            .field("hash_ids", &self.inner.keys.hash_ids)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Where a loaded record's expiry comes from.
pub(crate) enum Expiry {
    /// The key's `PTTL` reply.
    Pttl(i64),
    /// What this process noted recently (see `memo.rs`).
    Noted(OffsetDateTime),
}

impl RedisStore {
    /// A builder (servers, prefix, timeouts, at-rest options).
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// Connects to a single server with the defaults (prefix `sess:`, 1 s timeouts).
    pub async fn connect(url: &str) -> Result<Self, crate::BuildError> {
        Self::builder().url(url).build().await
    }

    /// Connects to a Redis Cluster through the given seed nodes, with the defaults.
    pub async fn connect_cluster<S: Into<String>>(
        nodes: impl IntoIterator<Item = S>,
    ) -> Result<Self, crate::BuildError> {
        Self::builder().cluster(nodes).build().await
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.conn.is_cluster()
    }

    /// The near cache's counters, when it is on (see [`RedisStoreBuilder::near_cache`]).
    pub fn near_cache_stats(&self) -> Option<crate::NearCacheStats> {
        self.inner.near.as_ref().map(|n| n.stats())
    }

    /// Drops every entry of the near cache (no-op without one). Coherence never needs
    /// this; it is for tests and for operators who want memory back.
    pub fn flush_near_cache(&self) {
        if let Some(near) = &self.inner.near {
            near.flush("asked to");
        }
    }

    /// The Redis key holding a session (for inspection and tests).
    pub fn session_key(&self, id: &SessionId) -> String {
        self.inner.keys.session(id)
    }

    /// The Redis key of a user's index set.
    pub fn user_key(&self, user: &str) -> String {
        self.inner.keys.user(user)
    }

    /// Deletes every key of this store (sessions and user indexes) with `SCAN` and `DEL`,
    /// like connect-redis's `clear()`. Returns how many keys were deleted.
    pub async fn clear(&self) -> Result<u64, StoreError> {
        let keys = &self.inner.keys;
        let user_pattern = Keys {
            prefix: keys.user_prefix.clone(),
            user_prefix: String::new(),
            hash_ids: false,
        }
        .scan_pattern();
        let mut deleted = 0;
        for pattern in [keys.scan_pattern(), user_pattern] {
            let mut names = Vec::new();
            self.scan_keys(&pattern, |batch| names.extend(batch))
                .await?;
            for name in names {
                let mut conn = self.conn();
                let n: i64 = timed(
                    self.inner.timeout,
                    redis::cmd("DEL").arg(&name).query_async(&mut conn),
                )
                .await?;
                deleted += n.max(0) as u64;
            }
        }
        // Redis spares this process the invalidations of its own deletes (NOLOOP).
        self.flush_near_cache();
        Ok(deleted)
    }

    /// Passes each batch of keys matching `pattern` to `each`, from `SCAN` on every primary.
    pub(crate) async fn scan_keys(
        &self,
        pattern: &str,
        mut each: impl FnMut(Vec<Vec<u8>>),
    ) -> Result<(), StoreError> {
        let t = self.inner.timeout;
        let mut conn = self.conn();
        let nodes = timed(t, conn.primaries()).await?;
        for node in &nodes {
            let mut cursor = 0u64;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000);
                let reply = timed(t, conn.on_node(node.as_ref(), cmd)).await?;
                let (next, keys): (u64, Vec<Vec<u8>>) =
                    redis::from_redis_value(reply).map_err(StoreError::decode)?;
                each(keys);
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs per-key pipelines in one round trip: merged into one pipeline on a single
    /// server; concurrently on a cluster (keys live in different slots, and a cluster
    /// pipeline must not cross slots). Returns every reply in order.
    pub(crate) async fn per_key(
        &self,
        pipes: Vec<redis::Pipeline>,
    ) -> Result<Vec<Value>, StoreError> {
        let t = self.inner.timeout;
        let mut conn = self.conn();
        if pipes.is_empty() {
            return Ok(Vec::new());
        }
        if !conn.is_cluster() {
            let mut all = redis::pipe();
            for p in &pipes {
                for c in p.cmd_iter() {
                    all.add_command(c.clone());
                }
            }
            return timed(t, all.query_async(&mut conn)).await;
        }
        let calls = pipes.iter().map(|p| {
            let mut conn = conn.clone();
            async move { timed(t, p.query_async::<Vec<Value>>(&mut conn)).await }
        });
        let replies = futures_util::future::try_join_all(calls).await?;
        Ok(replies.into_iter().flatten().collect())
    }

    pub(crate) fn conn(&self) -> Conn {
        self.inner.conn.clone()
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Milliseconds until `expires_at` (at least 1: Redis rejects a zero TTL).
    pub(crate) fn ttl_ms(&self, expires_at: OffsetDateTime) -> i64 {
        let ms = (expires_at - self.now()).whole_milliseconds();
        i64::try_from(ms).unwrap_or(i64::MAX).max(1)
    }

    /// Turns a `GET` reply and the key's expiry (from `PTTL`, or noted in `memo`) into a
    /// record.
    pub(crate) fn decode(
        &self,
        id: SessionId,
        key: &str,
        raw: Option<Vec<u8>>,
        expiry: Expiry,
    ) -> Result<Option<Record>, StoreError> {
        let Some(raw) = raw else { return Ok(None) };
        let now = self.now();
        let expires_at = match expiry {
            Expiry::Pttl(-2) => return Ok(None), // expired between the two commands
            Expiry::Pttl(ms) if ms < 0 => now + self.inner.default_ttl,
            Expiry::Pttl(ms) => {
                let at = now + Duration::from_millis(ms.unsigned_abs());
                self.inner.memo.set(key, at, now);
                at
            }
            Expiry::Noted(at) => at,
        };
        let v = version(&raw);
        let json = self.inner.codec.decode(raw, key)?;
        Record::from_json(id, &json, StoredMeta::new(expires_at, v).read_at(now)).map(Some)
    }

    /// The load without a near cache.
    pub(crate) async fn load_plain(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let key = self.inner.keys.session(id);
        let mut conn = self.conn();
        let mut get = redis::cmd("GET");
        get.arg(&key);
        if let Some(at) = self.inner.memo.get(&key, self.now()) {
            let share = conn.is_batched().then(|| format!("GET {key}"));
            let replies = timed(self.inner.timeout, conn.send(vec![get], share)).await?;
            let [raw] = replies_of(replies)?;
            let raw = from_value::<Option<Vec<u8>>>(raw)?;
            return self.decode(id.clone(), &key, raw, Expiry::Noted(at));
        }
        let mut pttl = redis::cmd("PTTL");
        pttl.arg(&key);
        let share = conn.is_batched().then(|| format!("GET+PTTL {key}"));
        let replies = timed(self.inner.timeout, conn.send(vec![get, pttl], share)).await?;
        let [raw, pttl] = replies_of(replies)?;
        let (raw, pttl) = (
            from_value::<Option<Vec<u8>>>(raw)?,
            from_value::<i64>(pttl)?,
        );
        self.decode(id.clone(), &key, raw, Expiry::Pttl(pttl))
    }

    /// The save's script and the near cache's bookkeeping of failures; a success is
    /// returned for the caller to note with the record as saved.
    pub(crate) async fn save_raw(
        &self,
        record: &Record,
    ) -> Result<(SaveOutcome, Option<Written>), StoreError> {
        let keys = &self.inner.keys;
        let stored = keys.stored_id(&record.id);
        let key = keys.session_stored(&stored);
        let value = self.inner.codec.encode(record, &key)?;
        let expected = version_hex(record.version);
        let ttl = self.ttl_ms(record.expires_at);
        let (plain, sealed) = match &record.user {
            Some(u) => self.inner.codec.owner_tokens(u),
            None => (String::new(), String::new()),
        };
        let mut check_owner = record.user.is_some();
        let mut conn = self.conn();
        let snapshot = self.near_snapshot();
        for _ in 0..2 {
            let result: Result<i64, StoreError> = timed(
                self.inner.timeout,
                SAVE.key(&key)
                    .arg(&expected)
                    .arg(&value)
                    .arg(ttl)
                    .arg(if check_owner { "1" } else { "0" })
                    .arg(&plain)
                    .arg(&sealed)
                    .arg(if self.inner.near.is_some() { "1" } else { "0" })
                    .invoke_async(&mut conn),
            )
            .await;
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    self.wrote(&key, snapshot); // it may or may not have been written
                    return Err(e);
                }
            };
            match result {
                scripts::save::SAVED => {
                    self.inner.memo.set(&key, record.expires_at, self.now());
                    let v = version(value.as_bytes());
                    let size = value.len();
                    let written = Written {
                        version: v,
                        key,
                        snapshot,
                        size,
                    };
                    return Ok((SaveOutcome::Saved(v), Some(written)));
                }
                scripts::save::MISSING => {
                    self.wrote(&key, snapshot);
                    return Ok((SaveOutcome::Missing, None));
                }
                scripts::save::CONFLICT => {
                    self.wrote(&key, snapshot);
                    return Ok((SaveOutcome::Conflict, None));
                }
                scripts::save::NEEDS_INDEX => {
                    if let Some(user) = &record.user {
                        self.index_add(user, &stored).await?;
                    }
                    check_owner = false;
                }
                other => {
                    self.wrote(&key, snapshot);
                    return Err(StoreError::decode(format!(
                        "unexpected save script result {other}"
                    )));
                }
            }
        }
        Err(StoreError::decode(
            "save script asked for the user index twice",
        ))
    }
}
