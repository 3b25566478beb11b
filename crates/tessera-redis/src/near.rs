//! The near cache: loaded sessions kept in process memory, kept coherent by Redis.
//!
//! **How it stays coherent.** Every read that fills the cache is sent as
//! `CLIENT TRACKING ON NOLOOP` + `GET`, pipelined on one connection (a cluster routes the
//! pair to the key's node): from then on, Redis pushes an `invalidate` message on that
//! connection (RESP3) when any client writes, expires or deletes the key. The push drops
//! the entry. `NOLOOP` spares this process the echo of its own writes; a save's script
//! reads the key again after writing it (Redis stops tracking a key for a client once it
//! is written), so a saved session stays cached *and* tracked. A touch (`PEXPIRE`) or a
//! delete from this process drops the entry instead.
//!
//! **Races.** Replies and pushes travel different ways inside the client, so a read's
//! reply can be handled after the invalidation of a write that followed it. Every change
//! (an invalidation, or a write by this process) takes the next number in a sequence and
//! is remembered in a bounded ring; a read or save notes the sequence before it is sent
//! and may fill the cache only if no change to its key was seen since (and the ring still
//! reaches back that far). A flush also moves a floor: nothing sent before the flush may
//! fill the cache after it.
//!
//! **When anything is lost.** A dropped connection (redis-rs sends the push handler a
//! disconnection notice), an `invalidate` with no keys (`FLUSHDB`/`FLUSHALL`), a Sentinel
//! switch to a new master: the whole cache is dropped, and nothing sent before the drop
//! fills it again. Commands may already use the new connection before the notice is
//! handled; that is safe because a fill always enables tracking on its own connection, and
//! an entry a save updated in between is dropped by the flush.
//! As a last line against a connection that is silently dead (no FIN, no error), entries
//! are trusted for at most `max_age`.
//!
//! Bounded: at most `capacity` entries (an approximately least recently used one is
//! evicted: see `near_table.rs`), values larger than [`MAX_VALUE_BYTES`] are not cached,
//! the ring holds [`RING`] changes.

use crate::near_table::Table;
use redis::{PushInfo, PushKind, Value};
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera::Record;
use time::OffsetDateTime;

/// Changes remembered for the fill check.
pub(crate) const RING: usize = 4096;
/// Stored values larger than this are read from Redis every time.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Counters of the near cache (see [`RedisStore::near_cache_stats`](crate::RedisStore::near_cache_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearCacheStats {
    /// Loads answered from memory.
    pub hits: u64,
    /// Loads that went to Redis.
    pub misses: u64,
    /// Keys dropped because Redis said another client changed them.
    pub invalidations: u64,
    /// Times the whole cache was dropped (connection lost, `FLUSHALL`, failover).
    pub flushes: u64,
    /// Entries held now.
    pub entries: u64,
}

struct Entry {
    record: Arc<Record>,
    filled: Instant,
}

struct State {
    entries: Table<Entry>,
    /// Number of the latest change.
    seq: u64,
    /// Reads and saves sent before this change may not fill.
    floor: u64,
    /// Key hashes of the latest changes, oldest first: the last one is change `seq`, the
    /// one before it `seq - 1`, and so on.
    ring: VecDeque<u64>,
}

impl State {
    /// Whether `key` is unchanged since `snapshot` as far as this process can tell.
    fn clean_since(&self, key_hash: u64, snapshot: u64) -> bool {
        if snapshot < self.floor {
            return false;
        }
        let newer = (self.seq - snapshot) as usize;
        if newer > self.ring.len() {
            return false; // the ring no longer reaches back to the snapshot
        }
        !self.ring.iter().rev().take(newer).any(|h| *h == key_hash)
    }

    fn changed(&mut self, key_hash: u64) {
        self.seq += 1;
        if self.ring.len() == RING {
            self.ring.pop_front();
        }
        self.ring.push_back(key_hash);
    }

    fn flush(&mut self) {
        self.entries.clear();
        self.seq += 1;
        self.floor = self.seq;
        self.ring.clear();
    }
}

/// The cache of one store (shared by its clones).
pub(crate) struct NearCache {
    state: Mutex<State>,
    max_age: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
}

fn hash(key: &str) -> u64 {
    use std::hash::Hasher;
    // A collision only costs a fill that is skipped.
    let mut h = std::hash::DefaultHasher::new();
    h.write(key.as_bytes());
    h.finish()
}

impl NearCache {
    pub(crate) fn new(capacity: NonZeroUsize, max_age: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                entries: Table::new(capacity),
                seq: 0,
                floor: 0,
                ring: VecDeque::with_capacity(RING),
            }),
            max_age,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached record of `key`, if fresh; counts a hit or a miss.
    pub(crate) fn get(&self, key: &str, now: OffsetDateTime) -> Option<Arc<Record>> {
        let found = {
            let mut state = self.lock();
            match state.entries.get_mut(key) {
                Some(e) if e.record.expires_at > now && e.filled.elapsed() < self.max_age => {
                    Some(Arc::clone(&e.record))
                }
                Some(_) => {
                    state.entries.pop(key);
                    None
                }
                None => None,
            }
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(if found.is_some() {
            names::HITS
        } else {
            names::MISSES
        })
        .increment(1);
        found
    }

    /// The change number to note before sending a read or a write.
    pub(crate) fn snapshot(&self) -> u64 {
        self.lock().seq
    }

    /// After a read sent at `snapshot` (with tracking on): caches `record` unless its key
    /// changed meanwhile. `None` (the key is gone) caches nothing.
    pub(crate) fn fill(&self, key: &str, snapshot: u64, record: Option<&Arc<Record>>, size: usize) {
        let Some(record) = record else { return };
        if size > MAX_VALUE_BYTES {
            return;
        }
        let mut state = self.lock();
        if state.clean_since(hash(key), snapshot) {
            state.entries.put(
                key,
                Entry {
                    record: Arc::clone(record),
                    filled: Instant::now(),
                },
            );
        }
    }

    /// After this process wrote `key` (a save sent at `snapshot`): an entry that was
    /// cached and saw no other change becomes `saved` (the save's script keeps the key
    /// tracked); otherwise the entry is dropped. `None` (touch, delete, failed save) drops.
    pub(crate) fn wrote(&self, key: &str, snapshot: u64, saved: Option<&Arc<Record>>, size: usize) {
        let h = hash(key);
        let mut state = self.lock();
        let clean = state.clean_since(h, snapshot);
        state.changed(h);
        match (saved, state.entries.get_mut(key)) {
            (Some(record), Some(entry)) if clean && size <= MAX_VALUE_BYTES => {
                entry.record = Arc::clone(record);
                entry.filled = Instant::now();
            }
            (_, Some(_)) => {
                state.entries.pop(key);
            }
            (_, None) => {}
        }
    }

    /// Drops everything (and nothing sent before now may fill).
    pub(crate) fn flush(&self, why: &'static str) {
        self.lock().flush();
        self.flushes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::FLUSHES).increment(1);
        tracing::debug!(reason = why, "redis near cache flushed");
    }

    /// Handles a push from Redis (or redis-rs's disconnection notice).
    pub(crate) fn on_push(&self, push: PushInfo) {
        match push.kind {
            PushKind::Disconnection => self.flush("connection lost"),
            PushKind::Invalidate => match push.data.into_iter().next() {
                Some(Value::Array(keys)) => {
                    let mut state = self.lock();
                    let mut n = 0;
                    for key in keys {
                        let key = match key {
                            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                            Value::SimpleString(s) => s,
                            _ => continue,
                        };
                        state.changed(hash(&key));
                        state.entries.pop(&key);
                        n += 1;
                    }
                    drop(state);
                    self.invalidations.fetch_add(n, Ordering::Relaxed);
                    metrics::counter!(names::INVALIDATIONS).increment(n);
                }
                // `invalidate` with a null key list: the database was flushed.
                _ => self.flush("the database was flushed"),
            },
            _ => {}
        }
    }

    pub(crate) fn stats(&self) -> NearCacheStats {
        NearCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            entries: self.lock().entries.len() as u64,
        }
    }
}

/// Metric names of the near cache (counters, through the `metrics` facade).
pub mod names {
    /// Loads answered from the near cache.
    pub const HITS: &str = "tessera_redis_near_cache_hits_total";
    /// Loads that went to Redis.
    pub const MISSES: &str = "tessera_redis_near_cache_misses_total";
    /// Keys dropped on Redis's invalidation messages.
    pub const INVALIDATIONS: &str = "tessera_redis_near_cache_invalidations_total";
    /// Whole-cache drops (connection lost, database flushed, failover).
    pub const FLUSHES: &str = "tessera_redis_near_cache_flushes_total";
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera::{SessionId, StoredMeta};

    fn record(n: i64) -> Arc<Record> {
        let now = OffsetDateTime::now_utc();
        let json = format!(r#"{{"cookie":{{}},"n":{n}}}"#);
        Arc::new(
            Record::from_json(
                SessionId::generate(),
                &json,
                StoredMeta::new(now + Duration::from_secs(60), n as u64),
            )
            .unwrap(),
        )
    }

    fn cache(cap: usize) -> NearCache {
        NearCache::new(NonZeroUsize::new(cap).unwrap(), Duration::from_secs(60))
    }

    fn n(c: &NearCache, key: &str) -> Option<i64> {
        c.get(key, OffsetDateTime::now_utc())
            .map(|r| r.data["n"].as_i64().unwrap())
    }

    #[test]
    fn a_read_answered_before_a_later_change_was_seen_does_not_fill() {
        let c = cache(10);
        let s = c.snapshot();
        c.on_push(PushInfo {
            kind: PushKind::Invalidate,
            data: vec![Value::Array(vec![Value::BulkString(b"k".to_vec())])],
        });
        c.fill("k", s, Some(&record(1)), 10);
        assert_eq!(n(&c, "k"), None, "the read may predate the write");
        let s = c.snapshot();
        c.fill("k", s, Some(&record(2)), 10);
        assert_eq!(n(&c, "k"), Some(2));
        // Another key's change does not block a fill.
        let s = c.snapshot();
        c.wrote("other", s, None, 0);
        c.fill("k2", s, Some(&record(3)), 10);
        assert_eq!(n(&c, "k2"), Some(3));
    }

    #[test]
    fn own_writes_update_only_a_clean_cached_entry() {
        let c = cache(10);
        let s = c.snapshot();
        c.wrote("k", s, Some(&record(1)), 10);
        assert_eq!(
            n(&c, "k"),
            None,
            "a save does not create an entry (untracked key)"
        );
        c.fill("k", c.snapshot(), Some(&record(1)), 10);
        let s = c.snapshot();
        c.wrote("k", s, Some(&record(2)), 10);
        assert_eq!(n(&c, "k"), Some(2));
        // Two saves whose replies come back out of order: the older one must not win.
        let (s1, s2) = (c.snapshot(), c.snapshot());
        c.wrote("k", s2, Some(&record(4)), 10);
        c.wrote("k", s1, Some(&record(3)), 10);
        assert_eq!(n(&c, "k"), None);
        // A read older than an own write does not fill.
        c.fill("k", c.snapshot(), Some(&record(5)), 10);
        let s = c.snapshot();
        c.wrote("k", c.snapshot(), None, 0);
        c.fill("k", s, Some(&record(5)), 10);
        assert_eq!(n(&c, "k"), None);
    }

    #[test]
    fn flushes_bounds_and_expiry() {
        let c = cache(2);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            c.fill(k, c.snapshot(), Some(&record(i as i64)), 10);
        }
        assert_eq!(c.stats().entries, 2, "capacity holds");
        assert_eq!(n(&c, "a"), None, "least recently used went first");
        let s = c.snapshot();
        c.on_push(PushInfo {
            kind: PushKind::Disconnection,
            data: vec![],
        });
        assert_eq!(c.stats().entries, 0);
        c.fill("b", s, Some(&record(9)), 10);
        assert_eq!(
            n(&c, "b"),
            None,
            "nothing sent before a flush fills after it"
        );
        c.fill("b", c.snapshot(), Some(&record(9)), MAX_VALUE_BYTES + 1);
        assert_eq!(n(&c, "b"), None, "large values are not cached");
        let mut old = Arc::unwrap_or_clone(record(1));
        old.expires_at = OffsetDateTime::now_utc() - Duration::from_secs(1);
        let old = Arc::new(old);
        c.fill("x", c.snapshot(), Some(&old), 10);
        assert_eq!(n(&c, "x"), None, "an expired record is never served");
        c.on_push(PushInfo {
            kind: PushKind::Invalidate,
            data: vec![Value::Nil],
        });
        let st = c.stats();
        assert_eq!((st.flushes, st.entries), (2, 0));
    }

    #[test]
    fn a_long_burst_of_changes_blocks_old_fills() {
        let c = cache(10);
        let s = c.snapshot();
        for i in 0..RING + 1 {
            c.wrote(&format!("k{i}"), c.snapshot(), None, 0);
        }
        c.fill("untouched", s, Some(&record(1)), 10);
        assert_eq!(
            n(&c, "untouched"),
            None,
            "the ring no longer covers the read"
        );
    }
}
