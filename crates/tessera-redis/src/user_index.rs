//! The per-user index (a sorted set of the user's session ids): adding, listing with each
//! member's session, and pruning members whose session is gone.

use crate::error::timed;
use crate::scripts::PRUNE;
use crate::store::{Expiry, RedisStore};
use tessera::{Record, StoreError};

/// A user-index member with its session (if the key still exists).
pub(crate) struct Member {
    pub stored: String,
    pub score: f64,
    pub record: Option<Record>,
}

impl RedisStore {
    /// `ZADD <user index> <now ms> <stored id>`.
    pub(crate) async fn index_add(&self, user: &str, stored: &str) -> Result<(), StoreError> {
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
    pub(crate) async fn members(&self, user: &str) -> Result<Vec<Member>, StoreError> {
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
    pub(crate) async fn prune(&self, user: &str, stale: &[(&str, f64)]) -> Result<(), StoreError> {
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
    pub(crate) fn stale<'a>(&self, members: &'a [Member]) -> Vec<(&'a str, f64)> {
        let cutoff = (self.now().unix_timestamp_nanos() / 1_000_000) as f64
            - self.inner.index_grace.as_millis() as f64;
        members
            .iter()
            .filter(|m| m.record.is_none() && m.score < cutoff)
            .map(|m| (m.stored.as_str(), m.score))
            .collect()
    }
}
