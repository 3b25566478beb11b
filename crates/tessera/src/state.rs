//! Per-request session state: the record as stored, the working copy, and the log of
//! changes that is replayed onto a fresh copy when a concurrent write wins.

use crate::config::{Secure, SessionConfig};
use crate::id::SessionId;
use crate::record::{CookieData, Record};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// A re-runnable read-modify-write of one key (from `Session::update`).
pub(crate) type UpdateFn =
    Arc<dyn Fn(Option<&Value>) -> Result<Value, serde_json::Error> + Send + Sync>;

/// One change the handler made, kept so it can be replayed on a fresher record.
#[derive(Clone)]
pub(crate) enum Op {
    Insert(String, Value),
    Remove(String),
    Clear,
    Update(String, UpdateFn),
    SetUser(Option<String>),
    SetMaxAge(Option<i64>),
    SetAbsolute(Option<i64>),
}

impl Op {
    /// Applies the change to a record.
    pub(crate) fn apply(&self, r: &mut Record) -> Result<(), serde_json::Error> {
        match self {
            Op::Insert(k, v) => {
                r.data.insert(k.clone(), v.clone());
            }
            Op::Remove(k) => {
                r.data.shift_remove(k);
            }
            Op::Clear => r.data.clear(),
            Op::Update(k, f) => {
                let new = f(r.data.get(k))?;
                r.data.insert(k.clone(), new);
            }
            Op::SetUser(u) => r.user = u.clone(),
            Op::SetMaxAge(ms) => r.cookie.original_max_age = *ms,
            Op::SetAbsolute(ms) => r.absolute_timeout_ms = *ms,
        }
        Ok(())
    }
}

/// A pending id change, carried out at save time (new record first, then the old one is
/// deleted, so a failure never loses the session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingCycle {
    /// The stored id to delete once the new record exists.
    pub old: SessionId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing read yet (lazy).
    Unloaded,
    /// `working` is valid.
    Ready,
    /// Loading failed; every access reports the error again.
    Failed,
}

pub(crate) struct State {
    pub phase: Phase,
    /// The record as the store last had it (loaded or saved by us); `None` = not stored.
    pub stored: Option<Arc<Record>>,
    /// The session as the handler sees it. Shares `stored` until the first change
    /// (copy-on-write), so a request that only reads never copies the record.
    pub working: Option<Arc<Record>>,
    /// Changes since `stored`, in order.
    pub ops: Vec<Op>,
    pub cycle: Option<PendingCycle>,
    /// `destroy()` ran: the client's cookie must be cleared unless a new session replaces it.
    pub destroyed: bool,
    /// `touch()` was called: refresh the expiry at the end even inside `touch_after`.
    pub force_touch: bool,
    /// An explicit `save()` changed the id or created the session: send the cookie even if
    /// the response turns out to be a 5xx.
    pub cookie_pending: bool,
    /// A store operation failed during the request.
    pub store_failed: bool,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            phase: Phase::Unloaded,
            stored: None,
            working: None,
            ops: Vec::new(),
            cycle: None,
            destroyed: false,
            force_touch: false,
            cookie_pending: false,
            store_failed: false,
        }
    }

    pub(crate) fn modified(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Records a change and applies it to the working copy.
    pub(crate) fn push(&mut self, op: Op) -> Result<(), serde_json::Error> {
        if let Some(w) = self.working.as_mut() {
            op.apply(Arc::make_mut(w))?;
        }
        self.ops.push(op);
        Ok(())
    }
}

/// Time rules shared by the layer and the session handle.
pub(crate) struct Timing<'a> {
    pub config: &'a SessionConfig,
}

impl Timing<'_> {
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
