//! `impl SessionStore for RedisStore`: each operation's commands (see the crate README's
//! table), on top of the store's core (`store.rs`), its near cache (`store_near.rs`) and
//! the user index (`user_index.rs`).

use crate::codec::{version, version_hex};
use crate::error::timed;
use crate::scripts;
use crate::store::{Expiry, RedisStore, as_stored};
use std::sync::Arc;
use tessera::{Record, SaveOutcome, ScanPage, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;

impl SessionStore for RedisStore {
    /// `GET` when this process noted the key's expiry less than 30 s ago (see `memo.rs`),
    /// else `GET` + `PTTL`, pipelined: one round trip either way.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        match &self.inner.near {
            Some(near) => Ok(self.load_cached(id, near).await?.map(Arc::unwrap_or_clone)),
            None => self.load_plain(id).await,
        }
    }

    /// With the near cache: the cached record itself (no copy), or [`load`]'s commands
    /// with client tracking on.
    ///
    /// [`load`]: SessionStore::load
    async fn load_shared(&self, id: &SessionId) -> Result<Option<Arc<Record>>, StoreError> {
        match &self.inner.near {
            Some(near) => self.load_cached(id, near).await,
            None => Ok(self.load_plain(id).await?.map(Arc::new)),
        }
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
        let (outcome, written) = self.save_raw(record).await?;
        if let Some(w) = written
            && self.inner.near.is_some()
        {
            self.saved(&w, &Arc::new(as_stored(record.clone(), w.version)));
        }
        Ok(outcome)
    }

    /// As [`save`](SessionStore::save); with the near cache, the saved record itself
    /// becomes the cached entry (no copy when the engine holds the only reference).
    async fn save_shared(
        &self,
        record: Arc<Record>,
    ) -> Result<(SaveOutcome, Arc<Record>), StoreError> {
        let (outcome, written) = self.save_raw(&record).await?;
        let Some(w) = written else {
            return Ok((outcome, record));
        };
        let mut saved = Arc::unwrap_or_clone(record);
        if self.inner.near.is_none() {
            saved.version = w.version; // as the trait's default does
            return Ok((outcome, Arc::new(saved)));
        }
        let saved = Arc::new(as_stored(saved, w.version));
        self.saved(&w, &saved);
        Ok((outcome, saved))
    }

    /// `PEXPIRE key ttl`: moves the expiry only; never creates a key.
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        let key = self.inner.keys.session(id);
        let mut conn = self.conn();
        let snapshot = self.near_snapshot();
        let n = timed(
            self.inner.timeout,
            redis::cmd("PEXPIRE")
                .arg(&key)
                .arg(self.ttl_ms(expires_at))
                .query_async::<i64>(&mut conn),
        )
        .await;
        // A key this process writes is no longer tracked for it: drop the entry.
        self.wrote(&key, snapshot);
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
        let snapshot = self.near_snapshot();
        let n = timed(
            self.inner.timeout,
            redis::cmd("DEL").arg(&key).query_async::<i64>(&mut conn),
        )
        .await;
        self.wrote(&key, snapshot);
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
            let snapshot = self.near_snapshot();
            let results = self.per_key(pipes).await;
            for (stored, _, _) in &targets {
                self.wrote(&keys.session_stored(stored), snapshot);
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
        self.scan_keys(&pattern, |batch| n += batch.len() as u64)
            .await?;
        Ok(n)
    }
}
