//! The per-request session state machine: pure and synchronous, no store, no HTTP.
//!
//! `Unloaded` (lazy) → `Ready` (or `Failed` when the load failed). In `Ready` the state
//! holds the record as stored, the working copy the handler sees, the change log since the
//! stored version, and what is pending (an id change, a destroy, a forced touch, a cookie
//! that must be sent). Every transition is a method; [`Ready::plan`] makes the
//! end-of-request decision and [`outgoing`] the cookie/header decision.

use crate::config::{SessionConfig, Unset};
use crate::id::SessionId;
use crate::lifetime::Lifetime;
use crate::log::Op;
use crate::record::Record;
use crate::signing::Verified;
use crate::writer::{DeleteReason, Plan, Written};
use std::sync::Arc;
use time::OffsetDateTime;

/// Why a write is being planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `Session::save()` from the handler: write whatever is pending.
    Explicit,
    /// The response is leaving; `server_error` = its status is 5xx (nothing is written).
    End { server_error: bool },
}

/// The session of one request.
pub(crate) enum State {
    /// Nothing read yet.
    Unloaded,
    /// Loading failed; every access reports the error again.
    Failed,
    /// Loaded (or known to be new).
    Ready(Ready),
}

/// A loaded session.
#[derive(Clone)]
pub(crate) struct Ready {
    /// The record as the store has it (loaded or written by us); `None` = not stored.
    stored: Option<Arc<Record>>,
    /// The session as the handler sees it. Shares `stored` until the first change
    /// (copy-on-write), so a request that only reads never copies the record.
    working: Arc<Record>,
    /// Changes since `stored`, in order.
    log: Vec<Op>,
    pending: Pending,
}

/// What the end of the request must still do besides saving the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// An id change: the stored id to delete once the new record exists.
    cycle_from: Option<SessionId>,
    /// `destroy()` ran: the client's cookie is cleared unless a new session replaces it.
    destroyed: bool,
    /// `touch()` was called: refresh the expiry even inside `touch_after`.
    force_touch: bool,
    /// A write during the request created the session, changed its id or moved a
    /// persistent cookie's expiry: the response carries the cookie even if it is a 5xx.
    cookie_due: bool,
}

impl State {
    /// The loaded session, if loading has finished successfully.
    pub(crate) fn ready(&self) -> Option<&Ready> {
        match self {
            State::Ready(r) => Some(r),
            _ => None,
        }
    }

    /// The loaded session, mutably.
    pub(crate) fn ready_mut(&mut self) -> Option<&mut Ready> {
        match self {
            State::Ready(r) => Some(r),
            _ => None,
        }
    }
}

impl Ready {
    /// A session loaded from the store.
    pub(crate) fn stored(record: Arc<Record>) -> Self {
        Self {
            stored: Some(Arc::clone(&record)),
            working: record,
            log: Vec::new(),
            pending: Pending::default(),
        }
    }

    /// A new session, not in the store yet.
    pub(crate) fn new_session(fresh: Record) -> Self {
        Self {
            stored: None,
            working: Arc::new(fresh),
            log: Vec::new(),
            pending: Pending::default(),
        }
    }

    /// The session as the handler sees it.
    pub(crate) fn working(&self) -> &Record {
        &self.working
    }

    /// The record as stored, if it is.
    pub(crate) fn stored_record(&self) -> Option<&Arc<Record>> {
        self.stored.as_ref()
    }

    /// Whether the handler changed anything since the stored version.
    pub(crate) fn modified(&self) -> bool {
        !self.log.is_empty()
    }

    /// Records a change and applies it to the working copy.
    pub(crate) fn push(&mut self, op: Op) -> Result<(), crate::log::ApplyError> {
        op.apply(Arc::make_mut(&mut self.working))?;
        self.log.push(op);
        Ok(())
    }

    /// Records an `update` whose new value is already computed (`op` replays it later).
    pub(crate) fn push_updated(&mut self, key: &str, value: serde_json::Value, op: Op) {
        Arc::make_mut(&mut self.working)
            .data
            .insert(key.to_owned(), value);
        self.log.push(op);
    }

    /// A new id for the same data; the stored record is replaced at the end.
    pub(crate) fn cycle_id(&mut self, new_id: SessionId) {
        if let Some(stored) = &self.stored {
            if self.pending.cycle_from.is_none() {
                self.pending.cycle_from = Some(stored.id.clone());
            }
        }
        Arc::make_mut(&mut self.working).id = new_id;
    }

    /// express `regenerate()`: a new id and an empty session (`fresh` carries the new id).
    pub(crate) fn regenerate(&mut self, fresh: Record) {
        self.cycle_id(fresh.id.clone());
        self.working = Arc::new(fresh);
        self.log.clear();
        self.log.push(Op::Clear);
    }

    /// The session was deleted (`destroy()`, or emptied with `Unset::Destroy`): later
    /// changes start `fresh`, a new empty session.
    pub(crate) fn destroyed(&mut self, fresh: Record) {
        *self = Self::after_destroy(fresh);
    }

    /// A session destroyed before it was loaded: `fresh` is what later changes start.
    pub(crate) fn after_destroy(fresh: Record) -> Self {
        let mut ready = Self::new_session(fresh);
        ready.pending.destroyed = true;
        ready
    }

    /// The session was read again from the store: this request's changes are discarded.
    pub(crate) fn reloaded(&mut self, record: Arc<Record>) {
        let pending = Pending {
            cycle_from: None,
            ..std::mem::take(&mut self.pending)
        };
        *self = Self::stored(record);
        self.pending = pending;
    }

    /// `touch()`: refresh the expiry at the end even inside `touch_after`.
    pub(crate) fn force_touch(&mut self) {
        self.pending.force_touch = true;
    }

    /// The one end-of-request (or explicit save) decision.
    pub(crate) fn plan(&self, mode: Mode, lifetime: Lifetime<'_>, now: OffsetDateTime) -> Plan {
        let config = lifetime.config;
        if mode == (Mode::End { server_error: true }) {
            return Plan::Nothing;
        }
        let explicit = mode == Mode::Explicit;
        let modified = self.modified();
        let create = |replaces| {
            let mut record = Record::clone(&self.working);
            lifetime.refresh(&mut record, now);
            Plan::Create {
                record: Box::new(record),
                replaces,
                taken: self.log.len(),
            }
        };
        match (&self.stored, &self.pending.cycle_from) {
            (None, _) => {
                if modified || explicit || (config.save_uninitialized && !self.pending.destroyed) {
                    create(None)
                } else {
                    Plan::Nothing
                }
            }
            (Some(_), Some(old)) => create(Some(old.clone())),
            (Some(stored), None)
                if modified && config.unset == Unset::Destroy && self.working.data.is_empty() =>
            {
                Plan::Delete {
                    id: stored.id.clone(),
                    reason: DeleteReason::Unset,
                }
            }
            (Some(stored), None) if modified || config.resave || explicit => Plan::Save {
                base: Arc::clone(stored),
                log: self.log.clone(),
            },
            (Some(stored), None) => {
                match lifetime.touch_due(stored, &self.working, now, self.pending.force_touch) {
                    Some(expires_at) => Plan::Touch {
                        id: stored.id.clone(),
                        expires_at,
                    },
                    None => Plan::Nothing,
                }
            }
        }
    }

    /// Takes in what a plan wrote. `taken` = the plan's change-log entries (changes made
    /// since stay in the log); `fresh` makes the new empty session after a delete.
    pub(crate) fn apply(
        &mut self,
        written: Written,
        taken: usize,
        fresh: impl FnOnce() -> Record,
    ) -> Result<(), crate::log::ApplyError> {
        match written {
            Written::Nothing => {}
            Written::Created(record) => {
                self.log.drain(..taken.min(self.log.len()));
                let w = Arc::make_mut(&mut self.working);
                w.id = record.id.clone();
                w.version = record.version;
                w.expires_at = record.expires_at;
                w.cookie.expires = record.cookie.expires;
                w.created_at = record.created_at;
                self.stored = Some(Arc::new(*record));
                self.pending.cycle_from = None;
                self.pending.cookie_due = true;
            }
            Written::Saved(saved) => {
                self.log.drain(..taken.min(self.log.len()));
                let old_expiry = self.stored.as_ref().and_then(|s| s.cookie.expires);
                if saved.cookie.expires != old_expiry {
                    self.pending.cookie_due = true;
                }
                // The working copy becomes the stored record plus changes made since the
                // plan (shared with it when there are none). `secure` reflects this
                // request's transport, not the saver's.
                let secure = self.working.cookie.secure;
                self.working = if self.log.is_empty() && saved.cookie.secure == secure {
                    Arc::clone(&saved)
                } else {
                    let mut working = Record::clone(&saved);
                    working.cookie.secure = secure;
                    for op in &self.log {
                        op.apply(&mut working)?;
                    }
                    Arc::new(working)
                };
                self.stored = Some(saved);
            }
            Written::Touched(expires_at) => {
                let persistent = self.working.cookie.original_max_age.is_some();
                for r in [self.stored.as_mut(), Some(&mut self.working)]
                    .into_iter()
                    .flatten()
                    .map(Arc::make_mut)
                {
                    r.expires_at = expires_at;
                    if persistent {
                        r.cookie.expires = Some(expires_at);
                    }
                }
                if persistent {
                    self.pending.cookie_due = true;
                }
            }
            Written::Deleted => self.destroyed(fresh()),
        }
        Ok(())
    }
}

/// Whether a session the handler never touched must still be loaded at the end of the
/// request: `rolling` re-sends an existing session's cookie, `save_uninitialized` stores
/// every new session.
pub(crate) fn must_load_at_end(config: &SessionConfig, has_id: bool, server_error: bool) -> bool {
    !server_error && ((config.rolling && has_id) || config.save_uninitialized)
}

/// What the response says about the session cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CookieOut {
    /// No `Set-Cookie`.
    Keep,
    /// Send the signed id, persistent until `expires` (`None`: a browser-session cookie).
    Set {
        id: SessionId,
        expires: Option<OffsetDateTime>,
    },
    /// Clear the cookie (same attributes, expiry in the past).
    Clear,
}

/// What the response says in the session header (header transport).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderOut {
    /// Nothing.
    Keep,
    /// The client has a new token: send it.
    Send(SessionId),
    /// The token the client sent names no session any more: an empty header tells it.
    Ended,
}

/// The request facts the cookie decision depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Incoming<'a> {
    /// The verified token the request carried (cookie first, then header).
    pub verified: Option<&'a Verified>,
    /// The request carried a session header (verified or not).
    pub header_token: bool,
    /// The response status is 5xx.
    pub server_error: bool,
}

/// The cookie and header decision, made once the session is written.
pub(crate) fn outgoing(
    state: &State,
    req: Incoming<'_>,
    config: &SessionConfig,
) -> (CookieOut, HeaderOut) {
    let Some(ready) = state.ready() else {
        return (CookieOut::Keep, HeaderOut::Keep);
    };
    let cookie_on = config.transport.cookie;
    let header_on = config.transport.header.is_some();
    if let Some(stored) = &ready.stored {
        let changed_id = req.verified.is_none_or(|v| v.id != stored.id);
        let resign = req
            .verified
            .is_some_and(|v| config.resign && v.secret_index > 0);
        let send = ready.pending.cookie_due
            || (!req.server_error && (config.rolling || changed_id || resign));
        if !send {
            return (CookieOut::Keep, HeaderOut::Keep);
        }
        let cookie = if cookie_on {
            CookieOut::Set {
                id: stored.id.clone(),
                expires: stored.cookie.expires,
            }
        } else {
            CookieOut::Keep
        };
        let header = if header_on && changed_id {
            HeaderOut::Send(stored.id.clone())
        } else {
            HeaderOut::Keep
        };
        return (cookie, header);
    }
    let cookie = if cookie_on && ready.pending.destroyed && req.verified.is_some() {
        CookieOut::Clear
    } else {
        CookieOut::Keep
    };
    let header = if header_on && req.header_token {
        HeaderOut::Ended
    } else {
        HeaderOut::Keep
    };
    (cookie, header)
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
