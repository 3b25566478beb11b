//! What the three stores share: pool settings, version tokens, row decoding and the
//! background cleanup task.

use std::time::Duration;
use tessera::{Clock, Record, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;

/// Default wait for a pooled connection before an operation fails with
/// [`StoreError::Timeout`].
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings every store builder has.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) table: String,
    pub(crate) acquire_timeout: Duration,
    pub(crate) max_connections: u32,
    pub(crate) test_before_acquire: bool,
    pub(crate) clock: Clock,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            table: crate::schema::DEFAULT_TABLE.to_owned(),
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            max_connections: 10,
            test_before_acquire: false,
            clock: Clock::System,
        }
    }
}

/// Generates the setters every store builder shares (each builder has a `common` field).
macro_rules! common_setters {
    () => {
        /// The table name (default `session`). Validated by `build`: 1 to 48 ASCII
        /// letters, digits or underscores, not starting with a digit.
        pub fn table(mut self, name: impl Into<String>) -> Self {
            self.common.table = name.into();
            self
        }

        /// How long an operation waits for a pooled connection (including connecting)
        /// before failing with [`tessera::StoreError::Timeout`] (default 2 s), so an
        /// unreachable database answers quickly. Ignored for a pool passed in.
        pub fn acquire_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.common.acquire_timeout = timeout;
            self
        }

        /// The pool size (default 10). Ignored for a pool passed in.
        pub fn max_connections(mut self, n: u32) -> Self {
            self.common.max_connections = n.max(1);
            self
        }

        /// Whether the pool pings a connection before handing it out (default `false`:
        /// sqlx already pings connections when they are returned, off the request path,
        /// and drops broken ones; after a database restart each stale connection fails
        /// at most one operation). Ignored for a pool passed in.
        pub fn test_before_acquire(mut self, on: bool) -> Self {
            self.common.test_before_acquire = on;
            self
        }

        /// The time source deciding which rows are expired (default the system clock).
        pub fn clock(mut self, clock: tessera::Clock) -> Self {
            self.common.clock = clock;
            self
        }
    };
}
pub(crate) use common_setters;

/// A fresh version token: random in `1..=2^62`, so a record deleted and created again
/// under the same id never matches a version read before the delete.
pub(crate) fn new_version() -> i64 {
    let mut b = [0u8; 8];
    // Without an OS random source fall back to the clock: still unique enough for a
    // compare-and-set token.
    if getrandom::fill(&mut b).is_err() {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        b = (nanos as u64).to_le_bytes();
    }
    ((u64::from_le_bytes(b) >> 2) as i64) + 1
}

// MySQL tokens are unsigned on both sides; the other back ends store signed values.
#[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
/// A signed 64-bit value read from the database (SQLite's `version` column, PostgreSQL's
/// computed token) as the record's token.
pub(crate) fn token(column: i64) -> u64 {
    column as u64
}

#[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
/// A token back as the signed value (the inverse of [`token`]).
pub(crate) fn column(token: u64) -> i64 {
    token as i64
}

/// Builds a record from a row's columns and its version token.
pub(crate) fn decode(
    id: SessionId,
    sess: &str,
    expire: OffsetDateTime,
    token: u64,
    now: OffsetDateTime,
) -> Result<Record, StoreError> {
    Record::from_json(
        id,
        sess,
        tessera::StoredMeta::new(expire, token).read_at(now),
    )
}

/// The page size `scan` uses for a requested `limit` (at least 1, at most 10,000 rows).
pub(crate) fn page_size(limit: usize) -> usize {
    limit.clamp(1, 10_000)
}

/// The cursor after a page of `rows` rows of at most `limit` whose last `sid` is `last`:
/// `None` once a page comes back short (the table has no more rows after it).
pub(crate) fn next_cursor(rows: usize, limit: usize, last: Option<String>) -> Option<String> {
    if rows == limit { last } else { None }
}

/// Parses a `sid` read from the table (rows written by other apps may hold ids Tessera
/// would not issue).
pub(crate) fn parse_sid(sid: &str) -> Option<SessionId> {
    let id = SessionId::parse(sid);
    if id.is_none() {
        tracing::warn!("skipping a session row whose sid is not a valid session id");
    }
    id
}

/// Runs [`SessionStore::delete_expired`] every `every` until the handle is aborted.
pub(crate) fn spawn_cleanup<S: SessionStore>(
    store: S,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.delete_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "deleted expired sessions"),
                Err(e) => tracing::warn!(error = %e, "deleting expired sessions failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_positive_distinct_and_round_trip() {
        let a = new_version();
        let b = new_version();
        assert!(a > 0 && b > 0);
        assert_ne!(a, b);
        assert_eq!(column(token(a)), a);
        assert_eq!(column(token(-5)), -5);
    }
}
