//! The store's near-cache paths (the cache itself is `near.rs`): loads through the cache,
//! tracked reads on a miss, and the notes of this process's own writes.

use crate::error::{from_value, replies_of, timed};
use crate::near::NearCache;
use crate::store::{Expiry, RedisStore, Written};
use std::sync::Arc;
use tessera::{Record, SessionId, StoreError};

impl RedisStore {
    /// A load through the near cache: the entry, or Redis on a miss.
    pub(crate) async fn load_cached(
        &self,
        id: &SessionId,
        near: &NearCache,
    ) -> Result<Option<Arc<Record>>, StoreError> {
        let key = self.inner.keys.session(id);
        if let Some(record) = near.get(&key, self.now()) {
            return Ok(Some(record));
        }
        self.load_tracked(id, key, near).await
    }

    /// A near-cache miss: `CLIENT TRACKING ON NOLOOP` + `GET` + `PTTL`, pipelined on one
    /// connection, so the key is tracked by the very connection that read it; then fills
    /// the cache unless the key changed meanwhile. (The expiry is always read: a noted one
    /// may predate another client's `PEXPIRE`, whose invalidation caused this miss.)
    async fn load_tracked(
        &self,
        id: &SessionId,
        key: String,
        near: &NearCache,
    ) -> Result<Option<Arc<Record>>, StoreError> {
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
        let record = self
            .decode(id.clone(), &key, raw, Expiry::Pttl(pttl))?
            .map(Arc::new);
        near.fill(&key, snapshot, record.as_ref(), size);
        Ok(record)
    }

    /// With the near cache: its change number, noted before a write is sent (see
    /// `NearCache::wrote`).
    pub(crate) fn near_snapshot(&self) -> Option<u64> {
        self.inner.near.as_ref().map(|n| n.snapshot())
    }

    /// The near cache's note of a write by this process to `key` (sent at `snapshot`) that
    /// leaves no record to cache: a touch, a delete, a failed save or an unknown outcome.
    /// The entry is dropped.
    pub(crate) fn wrote(&self, key: &str, snapshot: Option<u64>) {
        if let (Some(near), Some(snapshot)) = (&self.inner.near, snapshot) {
            near.wrote(key, snapshot, None, 0);
        }
    }

    /// The near cache's note of a successful save: `saved` (as `store::as_stored` made it)
    /// replaces a cached entry that saw no other change.
    pub(crate) fn saved(&self, w: &Written, saved: &Arc<Record>) {
        if let (Some(near), Some(snapshot)) = (&self.inner.near, w.snapshot) {
            near.wrote(&w.key, snapshot, Some(saved), w.size);
        }
    }
}
