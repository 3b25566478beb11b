//! [`RedisStore`]: the [`SessionStore`] implementation.

use crate::codec::{Codec, version, version_hex};
use crate::config::RedisStoreBuilder;
use crate::conn::Conn;
use crate::error::{from_value, replies_of, timed};
use crate::keys::Keys;
use crate::scripts::{self, PRUNE, SAVE};
use redis::Value;
use std::sync::Arc;
use std::time::Duration;
use tessera::{
    Clock, Record, SaveOutcome, ScanPage, SessionId, SessionStore, StoreError, StoredMeta,
};
use time::OffsetDateTime;

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
enum Expiry {
    /// The key's `PTTL` reply.
    Pttl(i64),
    /// What this process noted recently (see `memo.rs`).
    Noted(OffsetDateTime),
}

/// `record` as the next load would return it once saved with version `version`: the
/// stored JSON keeps instants to the millisecond.
fn as_stored(record: &Record, version: u64) -> Record {
    let ms = |t: OffsetDateTime| {
        t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(t)
    };
    let mut r = record.clone();
    r.version = version;
    r.created_at = ms(r.created_at);
    r.cookie.expires = r.cookie.expires.map(ms);
    r
}

/// A user-index member with its session (if the key still exists).
struct Member {
    stored: String,
    score: f64,
    record: Option<Record>,
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
            self.scan(&pattern, |batch| names.extend(batch)).await?;
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
    async fn scan(
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
    async fn per_key(&self, pipes: Vec<redis::Pipeline>) -> Result<Vec<Value>, StoreError> {
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

    fn conn(&self) -> Conn {
        self.inner.conn.clone()
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Milliseconds until `expires_at` (at least 1: Redis rejects a zero TTL).
    fn ttl_ms(&self, expires_at: OffsetDateTime) -> i64 {
        let ms = (expires_at - self.now()).whole_milliseconds();
        i64::try_from(ms).unwrap_or(i64::MAX).max(1)
    }

    /// Turns a `GET` reply and the key's expiry (from `PTTL`, or noted in `memo`) into a
    /// record.
    fn decode(
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

    /// A near-cache miss: `CLIENT TRACKING ON NOLOOP` + `GET` + `PTTL`, pipelined on one
    /// connection, so the key is tracked by the very connection that read it; then fills
    /// the cache unless the key changed meanwhile. (The expiry is always read: a noted one
    /// may predate another client's `PEXPIRE`, whose invalidation caused this miss.)
    async fn load_tracked(
        &self,
        id: &SessionId,
        key: String,
        near: &crate::near::NearCache,
    ) -> Result<Option<Record>, StoreError> {
        let mut conn = self.conn();
        let snapshot = near.snapshot();
        let mut tracking = redis::cmd("CLIENT");
        tracking.arg("TRACKING").arg("ON").arg("NOLOOP");
        let mut get = redis::cmd("GET");
        get.arg(&key);
        let mut pttl = redis::cmd("PTTL");
        pttl.arg(&key);
        let share = conn.is_batched().then(|| format!("TRACK+GET+PTTL {key}"));
        let replies = timed(
            self.inner.timeout,
            conn.send_to_key(&key, vec![tracking, get, pttl], share),
        )
        .await?;
        let [_, raw, pttl] = replies_of(replies)?;
        let (raw, pttl) = (
            from_value::<Option<Vec<u8>>>(raw)?,
            from_value::<i64>(pttl)?,
        );
        let size = raw.as_ref().map_or(0, Vec::len);
        let record = self.decode(id.clone(), &key, raw, Expiry::Pttl(pttl))?;
        near.fill(&key, snapshot, record.as_ref(), size);
        Ok(record)
    }

    /// The near cache's note of a write by this process to `key` (sent at `snapshot`):
    /// `saved` is the record as stored, `None` when the key was touched, deleted, or the
    /// outcome is unknown.
    fn wrote(&self, key: &str, snapshot: Option<u64>, saved: Option<(&Record, u64, usize)>) {
        let (Some(near), Some(snapshot)) = (&self.inner.near, snapshot) else {
            return;
        };
        match saved {
            Some((record, version, size)) => {
                near.wrote(key, snapshot, Some(&as_stored(record, version)), size)
            }
            None => near.wrote(key, snapshot, None, 0),
        }
    }

    /// `ZADD <user index> <now ms> <stored id>`.
    async fn index_add(&self, user: &str, stored: &str) -> Result<(), StoreError> {
        let now_ms = (self.now().unix_timestamp_nanos() / 1_000_000) as i64;
        let mut conn = self.conn();
        timed(
            self.inner.timeout,
            redis::cmd("ZADD")
                .arg(self.inner.keys.user(user))
                .arg(now_ms)
                .arg(stored)
                .query_async::<i64>(&mut conn),
        )
        .await
        .map(drop)
    }

    /// The user's index with each member's session (`None` when its key is gone).
    async fn members(&self, user: &str) -> Result<Vec<Member>, StoreError> {
        let t = self.inner.timeout;
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        let listed: Vec<(String, f64)> = timed(
            t,
            redis::cmd("ZRANGE")
                .arg(keys.user(user))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn),
        )
        .await?;
        if listed.is_empty() {
            return Ok(Vec::new());
        }
        let pipes = listed
            .iter()
            .map(|(stored, _)| {
                let key = keys.session_stored(stored);
                let mut p = redis::pipe();
                p.get(&key).pttl(&key);
                p
            })
            .collect();
        let replies = self.per_key(pipes).await?;
        let mut replies = replies.into_iter();
        let mut out = Vec::with_capacity(listed.len());
        for (stored, score) in listed {
            let (Some(raw), Some(pttl)) = (replies.next(), replies.next()) else {
                return Err(StoreError::decode("short pipeline reply"));
            };
            let raw: Option<Vec<u8>> = redis::from_redis_value(raw).map_err(StoreError::decode)?;
            let pttl: i64 = redis::from_redis_value(pttl).map_err(StoreError::decode)?;
            let record = match keys.public_id(&stored) {
                Some(id) => {
                    let key = keys.session_stored(&stored);
                    match self.decode(id, &key, raw, Expiry::Pttl(pttl)) {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(error = %e, "skipping an undecodable session in a user index");
                            continue;
                        }
                    }
                }
                None => None,
            };
            out.push(Member {
                stored,
                score,
                record,
            });
        }
        Ok(out)
    }

    /// Removes index members (with the scores read) unless they were re-added meanwhile.
    async fn prune(&self, user: &str, stale: &[(&str, f64)]) -> Result<(), StoreError> {
        if stale.is_empty() {
            return Ok(());
        }
        let mut inv = PRUNE.key(self.inner.keys.user(user));
        for (member, score) in stale {
            inv.arg(*member).arg(*score);
        }
        let mut conn = self.conn();
        timed(self.inner.timeout, inv.invoke_async::<i64>(&mut conn))
            .await
            .map(drop)
    }

    /// Members whose key is gone and that were added longer ago than the grace period.
    fn stale<'a>(&self, members: &'a [Member]) -> Vec<(&'a str, f64)> {
        let cutoff = (self.now().unix_timestamp_nanos() / 1_000_000) as f64
            - self.inner.index_grace.as_millis() as f64;
        members
            .iter()
            .filter(|m| m.record.is_none() && m.score < cutoff)
            .map(|m| (m.stored.as_str(), m.score))
            .collect()
    }
}

impl SessionStore for RedisStore {
    /// `GET` when this process noted the key's expiry less than 30 s ago (see `memo.rs`),
    /// else `GET` + `PTTL`, pipelined: one round trip either way.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let key = self.inner.keys.session(id);
        if let Some(near) = &self.inner.near {
            if let Some(record) = near.get(&key, self.now()) {
                return Ok(Some(record));
            }
            return self.load_tracked(id, key, near).await;
        }
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

    /// `SET key value PX ttl NX` (after `ZADD` to the user's index when bound to a user).
    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        let keys = &self.inner.keys;
        let stored = keys.stored_id(&record.id);
        let key = keys.session_stored(&stored);
        let value = self.inner.codec.encode(record, &key)?;
        if let Some(user) = &record.user {
            self.index_add(user, &stored).await?;
        }
        let mut conn = self.conn();
        let ok: Option<String> = timed(
            self.inner.timeout,
            redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .arg("PX")
                .arg(self.ttl_ms(record.expires_at))
                .arg("NX")
                .query_async(&mut conn),
        )
        .await?;
        match ok {
            Some(_) => {
                self.inner.memo.set(&key, record.expires_at, self.now());
                Ok(version(value.as_bytes()))
            }
            None => Err(StoreError::IdCollision),
        }
    }

    /// `EVALSHA save` (one round trip); when the record's user changed, `ZADD` to the
    /// new user's index first and run the script again.
    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
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
        let near = self.inner.near.as_ref();
        let snapshot = near.map(|n| n.snapshot());
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
                    .arg(if near.is_some() { "1" } else { "0" })
                    .invoke_async(&mut conn),
            )
            .await;
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    self.wrote(&key, snapshot, None); // it may or may not have been written
                    return Err(e);
                }
            };
            match result {
                scripts::save::SAVED => {
                    self.inner.memo.set(&key, record.expires_at, self.now());
                    let v = version(value.as_bytes());
                    self.wrote(&key, snapshot, Some((record, v, value.len())));
                    return Ok(SaveOutcome::Saved(v));
                }
                scripts::save::MISSING => {
                    self.wrote(&key, snapshot, None);
                    return Ok(SaveOutcome::Missing);
                }
                scripts::save::CONFLICT => {
                    self.wrote(&key, snapshot, None);
                    return Ok(SaveOutcome::Conflict);
                }
                scripts::save::NEEDS_INDEX => {
                    if let Some(user) = &record.user {
                        self.index_add(user, &stored).await?;
                    }
                    check_owner = false;
                }
                other => {
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

    /// `PEXPIRE key ttl`: moves the expiry only; never creates a key.
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        let key = self.inner.keys.session(id);
        let mut conn = self.conn();
        let snapshot = self.inner.near.as_ref().map(|n| n.snapshot());
        let n = timed(
            self.inner.timeout,
            redis::cmd("PEXPIRE")
                .arg(&key)
                .arg(self.ttl_ms(expires_at))
                .query_async::<i64>(&mut conn),
        )
        .await;
        // A key this process writes is no longer tracked for it: drop the entry.
        self.wrote(&key, snapshot, None);
        let n = n?;
        if n == 1 {
            self.inner.memo.set(&key, expires_at, self.now());
        } else {
            self.inner.memo.forget(&key);
        }
        Ok(n == 1)
    }

    /// `DEL key` (the user index entry is pruned when listed).
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = self.inner.keys.session(id);
        let mut conn = self.conn();
        let snapshot = self.inner.near.as_ref().map(|n| n.snapshot());
        let n = timed(
            self.inner.timeout,
            redis::cmd("DEL").arg(&key).query_async::<i64>(&mut conn),
        )
        .await;
        self.wrote(&key, snapshot, None);
        let n = n?;
        self.inner.memo.forget(&key);
        Ok(n > 0)
    }

    /// `ZRANGE` of the user's index, `GET` + `PTTL` of each member (one pipeline), then
    /// pruning of members whose key is gone.
    async fn list_by_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let members = self.members(user).await?;
        self.prune(user, &self.stale(&members)).await?;
        Ok(members
            .into_iter()
            .filter_map(|m| m.record)
            .filter(|r| r.user.as_deref() == Some(user))
            .collect())
    }

    /// Lists like [`list_by_user`](SessionStore::list_by_user), then deletes each of the
    /// user's sessions with a compare-and-delete script (a session changed meanwhile is
    /// read again, and skipped if it no longer belongs to the user).
    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let keys = &self.inner.keys;
        let except = except.map(|e| keys.stored_id(e).into_owned());
        let members = self.members(user).await?;
        let mut stale = self.stale(&members);
        let mut targets: Vec<(&str, f64, u64)> = members
            .iter()
            .filter(|m| Some(m.stored.as_str()) != except.as_deref())
            .filter_map(|m| {
                let r = m.record.as_ref()?;
                (r.user.as_deref() == Some(user)).then_some((m.stored.as_str(), m.score, r.version))
            })
            .collect();
        let mut deleted = 0u64;
        for _ in 0..5 {
            if targets.is_empty() {
                break;
            }
            let pipes = targets
                .iter()
                .map(|(stored, _, v)| {
                    let mut p = redis::pipe();
                    p.cmd("EVAL")
                        .arg(scripts::CAS_DELETE_SRC)
                        .arg(1)
                        .arg(keys.session_stored(stored))
                        .arg(version_hex(*v));
                    p
                })
                .collect();
            let snapshot = self.inner.near.as_ref().map(|n| n.snapshot());
            let results = self.per_key(pipes).await;
            for (stored, _, _) in &targets {
                self.wrote(&keys.session_stored(stored), snapshot, None);
            }
            let results = results?;
            let mut changed = Vec::new();
            for ((stored, score, _), result) in targets.iter().zip(results) {
                let result: i64 = redis::from_redis_value(result).map_err(StoreError::decode)?;
                match result {
                    1 => {
                        deleted += 1;
                        stale.push((stored, *score));
                    }
                    -1 => changed.push((*stored, *score)),
                    _ => {}
                }
            }
            // Read the changed ones again: still the user's → try again with the new version.
            targets = Vec::new();
            for (stored, score) in changed {
                let Some(id) = keys.public_id(stored) else {
                    continue;
                };
                if let Some(r) = self.load(&id).await?
                    && r.user.as_deref() == Some(user)
                {
                    targets.push((stored, score, r.version));
                }
            }
        }
        self.prune(user, &stale).await?;
        if !targets.is_empty() {
            return Err(StoreError::unavailable(
                "sessions kept changing while they were being revoked",
            ));
        }
        Ok(deleted)
    }

    /// `SCAN 0 MATCH <prefix>* COUNT 1000` until the cursor is 0, on every primary
    /// (expired keys are never returned by `SCAN`).
    /// `SCAN … MATCH <prefix>* COUNT <limit>` on each primary in turn (the cursor is
    /// `<primary index>:<SCAN cursor>`), then `GET`+`PTTL` of the page's keys in one round
    /// trip. With hashed ids, the records carry the marked stored id (as `list_by_user`).
    /// On a cluster whose set of primaries changes during the scan (failover, resharding)
    /// the guarantee of `SCAN` itself is lost; run it again.
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<ScanPage, StoreError> {
        let bad = || StoreError::decode("not a cursor issued by this Redis store");
        let (node_ix, mut redis_cursor) = match cursor {
            None => (0usize, 0u64),
            Some(c) => {
                let (n, r) = c.split_once(':').ok_or_else(bad)?;
                (n.parse().map_err(|_| bad())?, r.parse().map_err(|_| bad())?)
            }
        };
        let t = self.inner.timeout;
        let keys = &self.inner.keys;
        let mut conn = self.conn();
        let mut nodes = timed(t, conn.primaries()).await?;
        nodes.sort();
        let Some(node) = nodes.get(node_ix) else {
            return Err(bad());
        };
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(redis_cursor)
            .arg("MATCH")
            .arg(keys.scan_pattern())
            .arg("COUNT")
            .arg(limit.clamp(1, 10_000));
        let reply = timed(t, conn.on_node(node.as_ref(), cmd)).await?;
        let found: Vec<String>;
        (redis_cursor, found) = redis::from_redis_value(reply).map_err(StoreError::decode)?;
        let next = if redis_cursor != 0 {
            Some(format!("{node_ix}:{redis_cursor}"))
        } else if node_ix + 1 < nodes.len() {
            Some(format!("{}:0", node_ix + 1))
        } else {
            None
        };
        let pipes = found
            .iter()
            .map(|key| {
                let mut p = redis::pipe();
                p.get(key).pttl(key);
                p
            })
            .collect();
        let mut replies = self.per_key(pipes).await?.into_iter();
        let mut records = Vec::with_capacity(found.len());
        for key in &found {
            let (Some(raw), Some(pttl)) = (replies.next(), replies.next()) else {
                return Err(StoreError::decode("short pipeline reply"));
            };
            let raw: Option<Vec<u8>> = redis::from_redis_value(raw).map_err(StoreError::decode)?;
            let pttl: i64 = redis::from_redis_value(pttl).map_err(StoreError::decode)?;
            let Some(id) = key
                .strip_prefix(keys.prefix.as_str())
                .and_then(|stored| keys.public_id(stored))
            else {
                continue;
            };
            match self.decode(id, key, raw, Expiry::Pttl(pttl)) {
                Ok(Some(r)) => records.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "skipping an undecodable session in a scan"),
            }
        }
        Ok(ScanPage::new(records, next))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let pattern = self.inner.keys.scan_pattern();
        let mut n = 0u64;
        self.scan(&pattern, |batch| n += batch.len() as u64).await?;
        Ok(n)
    }
}
