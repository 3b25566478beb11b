//! Session lifetimes: idle windows, absolute deadlines, the next expiry of a write, when a
//! touch is due, and what a fresh record looks like.

use crate::config::{Secure, SessionConfig};
use crate::id::SessionId;
use crate::record::{CookieData, Record};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// The time rules of one configuration.
#[derive(Clone, Copy)]
pub(crate) struct Lifetime<'a> {
    pub config: &'a SessionConfig,
}

impl Lifetime<'_> {
    /// The session's idle window: its own max age if it has one, else `idle_timeout`.
    pub(crate) fn idle_window(&self, r: &Record) -> Duration {
        match r.cookie.original_max_age {
            Some(ms) if ms > 0 => Duration::from_millis(ms as u64),
            _ => self.config.idle_timeout,
        }
    }

    /// The absolute timeout of a record without one of its own. A record express-session
    /// wrote with a persistent cookie ("remember me") keeps its own lifetime: its cookie's
    /// max age when that is longer than the configured timeout, which would otherwise cut
    /// a 30-day session to 12 hours the first time Tessera read it (issue 11, point 14).
    fn configured_absolute(&self, r: &Record) -> Option<Duration> {
        let configured = self.config.absolute_timeout?;
        match r.cookie.original_max_age {
            Some(ms) if r.without_meta && ms > 0 => {
                Some(configured.max(Duration::from_millis(ms as u64)))
            }
            _ => Some(configured),
        }
    }

    /// When the absolute timeout ends the session, if one applies.
    pub(crate) fn absolute_deadline(&self, r: &Record) -> Option<OffsetDateTime> {
        let abs = match r.absolute_timeout_ms {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms as u64)),
            _ => self.configured_absolute(r),
        }?;
        Some(r.created_at + abs)
    }

    /// Whether a stored record must be treated as gone.
    pub(crate) fn is_dead(&self, r: &Record, now: OffsetDateTime) -> bool {
        r.is_expired(now) || self.absolute_deadline(r).is_some_and(|d| d <= now)
    }

    /// The expiry a write at `now` gives the record: idle window from now, capped by the
    /// absolute deadline.
    pub(crate) fn next_expiry(&self, r: &Record, now: OffsetDateTime) -> OffsetDateTime {
        let idle = now + self.idle_window(r);
        match self.absolute_deadline(r) {
            Some(abs) if abs < idle => abs,
            _ => idle,
        }
    }

    /// Sets `expires_at` and the cookie's `expires` for a write at `now`. A record read
    /// without Tessera's metadata gets it with this write, and with it the absolute
    /// timeout it was given (so it does not shrink once the record carries a creation
    /// time).
    pub(crate) fn refresh(&self, r: &mut Record, now: OffsetDateTime) {
        if r.without_meta {
            if r.absolute_timeout_ms.is_none() && r.cookie.original_max_age.is_some_and(|ms| ms > 0)
            {
                r.absolute_timeout_ms = self
                    .configured_absolute(r)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            }
            r.without_meta = false;
        }
        let exp = self.next_expiry(r, now);
        r.expires_at = exp;
        r.cookie.expires = r.cookie.original_max_age.map(|_| exp);
    }

    /// The effective touch interval for a record: `touch_after`, at most half its idle window.
    pub(crate) fn touch_after(&self, r: &Record) -> Duration {
        self.config.touch_after.min(self.idle_window(r) / 2)
    }

    /// A fresh, unsaved record with the configured cookie attributes.
    pub(crate) fn new_record(&self, id: SessionId, now: OffsetDateTime, tls: bool) -> Record {
        let c = self.config;
        let mut r = Record::new(id, now, now);
        r.cookie = CookieData {
            original_max_age: c.max_age.map(|d| d.as_millis() as i64),
            partitioned: c.partitioned.then_some(true),
            priority: c.priority.map(|p| p.stored().to_owned()),
            expires: None,
            secure: match c.secure {
                Secure::Never => None,
                Secure::Always => Some(true),
                Secure::Auto => Some(tls),
            },
            http_only: Some(c.http_only),
            domain: c.domain.clone(),
            path: Some(c.path.clone()),
            same_site: c.same_site.stored().map(Value::from),
        };
        self.refresh(&mut r, now);
        r
    }

    /// A new id from the configured generator (falling back to a random one if the
    /// generator returns something unusable).
    pub(crate) fn new_id(&self) -> SessionId {
        if let Some(genid) = &self.config.genid {
            match SessionId::parse(&genid()) {
                Some(id) => return id,
                None => tracing::warn!("custom genid returned an unusable id; using a random one"),
            }
        }
        SessionId::generate()
    }
}

impl Lifetime<'_> {
    /// The new expiry if a touch of `stored` (as `working` now reads) at `now` is due:
    /// when it gains at least the touch interval, or anything at all when `force`d.
    pub(crate) fn touch_due(
        &self,
        stored: &Record,
        working: &Record,
        now: OffsetDateTime,
        force: bool,
    ) -> Option<OffsetDateTime> {
        let new_exp = self.next_expiry(working, now);
        let gain = new_exp - stored.expires_at;
        let due = gain >= self.touch_after(working) || force;
        (due && gain > time::Duration::ZERO).then_some(new_exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StoredMeta;

    const DAY: Duration = Duration::from_secs(86_400);

    fn node_record(max_age: Option<Duration>, now: OffsetDateTime) -> Record {
        let cookie = match max_age {
            Some(d) => serde_json::json!({"originalMaxAge": d.as_millis() as u64, "path": "/"}),
            None => serde_json::json!({"originalMaxAge": null, "path": "/"}),
        };
        let json = serde_json::json!({"cookie": cookie, "n": 1}).to_string();
        let meta = StoredMeta::new(now + DAY, 1).read_at(now);
        Record::from_json(SessionId::generate(), &json, meta).expect("record")
    }

    fn config(absolute: Duration) -> SessionConfig {
        SessionConfig::builder()
            .secret("a test secret that is at least thirty-two bytes")
            .absolute_timeout(absolute)
            .build()
            .expect("config")
    }

    #[test]
    fn a_node_remember_me_record_keeps_its_own_lifetime() {
        // Whole milliseconds, as stored.
        let now = time::macros::datetime!(2026-12-07 10:00:00.123 UTC);
        let twelve_hours = config(Duration::from_secs(12 * 3600));
        let l = Lifetime {
            config: &twelve_hours,
        };
        let mut r = node_record(Some(30 * DAY), now);
        assert_eq!(l.absolute_deadline(&r), Some(now + 30 * DAY));
        l.refresh(&mut r, now);
        assert_eq!(r.expires_at, now + 30 * DAY);
        // Written with Tessera's metadata from now on, the lifetime goes with it.
        assert_eq!(r.absolute_timeout_ms, Some((30 * DAY).as_millis() as i64));
        let reread = Record::from_json(
            r.id.clone(),
            &r.to_json(),
            StoredMeta::new(r.expires_at, 2).read_at(now + DAY),
        )
        .expect("reread");
        assert_eq!(l.absolute_deadline(&reread), Some(now + 30 * DAY));

        // A Node session without a persistent cookie gets the configured timeout, and so
        // does one whose max age is shorter than it.
        let r = node_record(None, now);
        assert_eq!(
            l.absolute_deadline(&r),
            Some(now + Duration::from_secs(12 * 3600))
        );
        let sixty_days = config(60 * DAY);
        let l = Lifetime {
            config: &sixty_days,
        };
        assert_eq!(
            l.absolute_deadline(&node_record(Some(30 * DAY), now)),
            Some(now + 60 * DAY)
        );
        // Tessera's own records are unchanged: a per-session max age does not lengthen
        // the configured absolute timeout.
        let mut own = node_record(Some(30 * DAY), now);
        own.without_meta = false;
        assert_eq!(l.absolute_deadline(&own), Some(now + 60 * DAY));
        let l = Lifetime {
            config: &twelve_hours,
        };
        assert_eq!(
            l.absolute_deadline(&own),
            Some(now + Duration::from_secs(12 * 3600))
        );
    }
}
