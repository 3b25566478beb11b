//! The expiry this process last saw or gave each session, so most loads are a bare `GET`.
//!
//! The layer throttles touches with `Record::expires_at`, but a touch is `PEXPIRE` only
//! (connect-redis compatible: the value is not rewritten), so the stored JSON cannot carry
//! the current expiry. Reading the TTL on every request would cost a `PTTL` each time.
//! Instead the store remembers the expiry of every session it created, saved, touched or
//! loaded with `PTTL`, and trusts that note for [`TRUST`]: a load with a fresh note is one
//! `GET`; otherwise it is `GET` + `PTTL`, pipelined (still one round trip), which renews the
//! note. Another process can only make a note stale by moving the expiry: later (a touch:
//! this process then touches a little early, harmless) or earlier (a max-age change:
//! noticed within [`TRUST`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a note is trusted without asking Redis again.
pub(crate) const TRUST: Duration = Duration::from_secs(30);

/// Bounded: when full, stale entries are dropped, then everything (loads then read `PTTL`
/// again, which only costs a command).
pub(crate) struct ExpiryMemo {
    map: Mutex<HashMap<String, (OffsetDateTime, OffsetDateTime)>>,
    cap: usize,
}

impl ExpiryMemo {
    /// At most `cap` notes; `0`: off (every call is a no-op), for a store whose near cache
    /// holds the expiry itself.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            cap,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (OffsetDateTime, OffsetDateTime)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The noted expiry of `key`, if noted less than [`TRUST`] ago and still ahead.
    pub(crate) fn get(&self, key: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if self.cap == 0 {
            return None;
        }
        self.lock()
            .get(key)
            .filter(|(exp, noted)| *exp > now && now - *noted < TRUST)
            .map(|(exp, _)| *exp)
    }

    pub(crate) fn set(&self, key: &str, at: OffsetDateTime, now: OffsetDateTime) {
        if self.cap == 0 {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.cap && !map.contains_key(key) {
            map.retain(|_, (exp, noted)| *exp > now && now - *noted < TRUST);
            if map.len() >= self.cap {
                map.clear();
            }
            map.shrink_to_fit();
        }
        map.insert(key.to_owned(), (at, now));
    }

    pub(crate) fn forget(&self, key: &str) {
        if self.cap == 0 {
            return;
        }
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration as D;

    #[test]
    fn remembers_for_a_while_forgets_and_stays_bounded() {
        let now = OffsetDateTime::now_utc();
        let memo = ExpiryMemo::new(2);
        memo.set("a", now + D::hours(1), now);
        memo.set("b", now - D::hours(1), now);
        assert_eq!(memo.get("a", now), Some(now + D::hours(1)));
        assert_eq!(
            memo.get("a", now + D::seconds(31)),
            None,
            "not trusted after TRUST"
        );
        memo.set("c", now + D::hours(2), now);
        assert!(memo.get("b", now).is_none(), "expired entries go first");
        assert!(memo.get("a", now).is_some() && memo.get("c", now).is_some());
        memo.forget("a");
        assert!(memo.get("a", now).is_none());

        let off = ExpiryMemo::new(0);
        off.set("a", now + D::hours(1), now);
        assert!(
            off.get("a", now).is_none(),
            "a memo of capacity 0 notes nothing"
        );
        assert!(off.lock().is_empty());
    }
}
