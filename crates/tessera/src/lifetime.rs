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

    /// When the absolute timeout ends the session, if one applies.
    pub(crate) fn absolute_deadline(&self, r: &Record) -> Option<OffsetDateTime> {
        let abs = match r.absolute_timeout_ms {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms as u64)),
            _ => self.config.absolute_timeout,
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

    /// Sets `expires_at` and the cookie's `expires` for a write at `now`.
    pub(crate) fn refresh(&self, r: &mut Record, now: OffsetDateTime) {
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
