//! Writing a session back: the one decision made per request (nothing, touch, save,
//! create, cycle, delete) and the conditional save that replays changes on conflict.

use crate::combine::{self, Msg, Waiter};
use crate::config::Unset;
use crate::error::{Error, StoreError};
use crate::id::SessionId;
use crate::record::Record;
use crate::session::Session;
use crate::shared::names;
use crate::state::Op;
use crate::state::Phase;
use crate::store::SaveOutcome;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `Session::save()` from the handler: write whatever is pending.
    Explicit,
    /// The response is leaving the layer.
    End,
}

/// What to do with the session, decided once from its state.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Nothing,
    Create,
    Cycle(SessionId),
    Save,
    Touch { force: bool },
    DeleteEmptied,
}

impl Session {
    fn plan(&self, mode: Mode) -> Plan {
        let config = &self.inner.shared.config;
        let st = self.state();
        if st.phase != Phase::Ready {
            return Plan::Nothing;
        }
        let Some(working) = &st.working else {
            return Plan::Nothing;
        };
        let modified = st.modified();
        match (&st.stored, &st.cycle) {
            (None, _) => {
                if modified
                    || mode == Mode::Explicit
                    || (config.save_uninitialized && !st.destroyed)
                {
                    Plan::Create
                } else {
                    Plan::Nothing
                }
            }
            (Some(_), Some(cycle)) => Plan::Cycle(cycle.old.clone()),
            (Some(_), None)
                if modified && config.unset == Unset::Destroy && working.data.is_empty() =>
            {
                Plan::DeleteEmptied
            }
            (Some(_), None) if modified || config.resave || mode == Mode::Explicit => Plan::Save,
            (Some(_), None) => Plan::Touch {
                force: st.force_touch,
            },
        }
    }

    /// Carries out the plan. On success the state reflects what is stored.
    pub(crate) async fn persist(&self, mode: Mode) -> Result<(), Error> {
        let _io = self.inner.io_lock.lock().await;
        let plan = self.plan(mode);
        let result = match plan {
            Plan::Nothing => Ok(()),
            Plan::Create => self.create(None).await,
            Plan::Cycle(old) => self.create(Some(old)).await,
            Plan::Save => self.save_conditional().await,
            Plan::Touch { force } => self.touch_if_due(force).await,
            Plan::DeleteEmptied => self.delete_emptied().await,
        };
        if let Err(Error::Store(_) | Error::Contention(_)) = &result {
            self.state().store_failed = true;
        }
        result
    }

    /// Creates the working record (under a new id on collision), then deletes `old`.
    async fn create(&self, old: Option<SessionId>) -> Result<(), Error> {
        let shared = &self.inner.shared;
        let timing = self.timing();
        let (mut record, taken) = {
            let st = self.state();
            let mut r = Record::clone(st.working.as_ref().expect("loaded"));
            timing.refresh(&mut r, self.now());
            (r, st.ops.len())
        };
        let mut attempts = 0;
        let version = loop {
            match shared
                .call("create", Some(&record.id), shared.store.0.create(&record))
                .await
            {
                Ok(v) => break v,
                Err(StoreError::IdCollision) if attempts < 3 => {
                    attempts += 1;
                    tracing::warn!("session id collision on create; generating another id");
                    record.id = timing.new_id();
                }
                Err(e) => return Err(e.into()),
            }
        };
        record.version = version;
        metrics::counter!(names::CREATED).increment(1);
        if let Some(old) = &old {
            shared
                .call("delete", Some(old), shared.store.0.delete(old))
                .await?;
        }
        let mut st = self.state();
        let n = taken.min(st.ops.len());
        st.ops.drain(..n);
        self.adopt(&mut st, record);
        st.cycle = None;
        st.cookie_pending = true;
        Ok(())
    }

    /// Makes `saved` the stored record and syncs the working copy's id, version and expiry.
    fn adopt(&self, st: &mut crate::state::State, saved: Record) {
        if let Some(w) = st.working.as_mut().map(Arc::make_mut) {
            w.id = saved.id.clone();
            w.version = saved.version;
            w.expires_at = saved.expires_at;
            w.cookie.expires = saved.cookie.expires;
            w.created_at = saved.created_at;
        }
        st.stored = Some(Arc::new(saved));
    }

    /// Conditional save, combined with concurrent saves of the same session in this
    /// process (see `combine.rs`); on conflict reload, replay every change log, try again.
    async fn save_conditional(&self) -> Result<(), Error> {
        let shared = &self.inner.shared;
        loop {
            let (id, ops, old_expiry) = {
                let st = self.state();
                let Some(stored) = &st.stored else {
                    return Ok(());
                };
                (stored.id.clone(), st.ops.clone(), stored.cookie.expires)
            };
            let taken = ops.len();
            let waiting = {
                let mut stripe = shared.write_stripe(&id);
                if stripe.busy {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    stripe.queue.push(Waiter {
                        id: id.clone(),
                        ops,
                        tx,
                    });
                    Some(rx)
                } else {
                    stripe.busy = true;
                    None
                }
            };
            let result = match waiting {
                None => self.lead(&id, ops_of(self, taken)).await,
                Some(rx) => match (WaitGuard {
                    session: self,
                    id: &id,
                    rx: Some(rx),
                })
                .wait()
                .await
                {
                    Ok(Msg::Done(r)) => r.map_err(combine::Shared::into_error),
                    // The leader finished its own save and passed the turn to this request.
                    Ok(Msg::Lead) => self.lead(&id, ops_of(self, taken)).await,
                    // The leader's request was cancelled before it answered: start over.
                    Err(_) => continue,
                },
            };
            let saved = result?;
            let mut st = self.state();
            let n = taken.min(st.ops.len());
            st.ops.drain(..n);
            if saved.cookie.expires != old_expiry {
                st.cookie_pending = true;
            }
            // The working copy becomes the stored record plus changes made since the snapshot
            // (shared with it when there are none).
            let secure = st.working.as_ref().and_then(|w| w.cookie.secure);
            let working = if st.ops.is_empty() && saved.cookie.secure == secure {
                Arc::clone(&saved)
            } else {
                let mut working = Record::clone(&saved);
                working.cookie.secure = secure;
                for op in &st.ops {
                    op.apply(&mut working)?;
                }
                Arc::new(working)
            };
            st.working = Some(working);
            st.stored = Some(saved);
            return Ok(());
        }
    }

    /// Saves as the stripe's leader: this request's changes plus every queued change log of
    /// the same session, then hands the turn on.
    async fn lead(&self, id: &SessionId, own: Vec<Op>) -> Result<Arc<Record>, Error> {
        let shared = &self.inner.shared;
        let mut guard = LeaderGuard {
            session: self,
            id: id.clone(),
            armed: true,
        };
        let waiters = shared.write_stripe(id).take_same(id);
        let base = self.state().stored.clone();
        let outcome = match base {
            Some(base) => self.save_batch(base, &own, &waiters).await,
            None => Err(Error::Ended),
        };
        let own_outcome = match outcome {
            Ok((record, rejected)) => {
                for (w, rejected) in waiters.into_iter().zip(rejected.iter().skip(1)) {
                    let msg = match rejected {
                        Some(e) => Err(combine::Shared::Json(e.to_string())),
                        None => Ok(Arc::clone(&record)),
                    };
                    let _ = w.tx.send(Msg::Done(msg));
                }
                match rejected.into_iter().next().flatten() {
                    Some(e) => Err(Error::Json(e)),
                    None => Ok(record),
                }
            }
            Err(e) => {
                let shared_err = combine::Shared::from_error(&e);
                for w in waiters {
                    let _ = w.tx.send(Msg::Done(Err(shared_err.clone())));
                }
                Err(e)
            }
        };
        guard.armed = false;
        shared.write_stripe(id).hand_off();
        own_outcome
    }

    /// One conditional save of `base` + every change log, replayed on a fresher record
    /// when a concurrent writer (another process) wins. Returns the saved record and, per
    /// change log (this request's first, then the waiters'), the error that kept it out of
    /// the save: a log whose `update` closure fails on the fresher value is left out as a
    /// whole, and only its own request fails.
    async fn save_batch(
        &self,
        base: Arc<Record>,
        own: &[Op],
        waiters: &[Waiter],
    ) -> Result<(Arc<Record>, combine::Rejected), Error> {
        let shared = &self.inner.shared;
        let config = &shared.config;
        let timing = self.timing();
        let id = base.id.clone();
        // Another request of this process saved the session after this one loaded it: start
        // from that record (it is newer, or the save below conflicts and reloads).
        let mut base = match shared.write_stripe(&id).cached.clone() {
            Some(c) if c.id == id => c,
            _ => base,
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let logs = std::iter::once(own).chain(waiters.iter().map(|w| w.ops.as_slice()));
            let (mut record, rejected) = combine::apply_logs(&base, logs);
            if rejected.iter().all(Option::is_some) {
                // Nothing left to save: every change log failed.
                return Ok((base, rejected));
            }
            timing.refresh(&mut record, self.now());
            match shared
                .call("save", Some(&id), shared.store.0.save(&record))
                .await?
            {
                SaveOutcome::Saved(version) => {
                    record.version = version;
                    metrics::counter!(names::SAVED).increment(1);
                    let record = Arc::new(record);
                    shared.write_stripe(&id).cached = Some(Arc::clone(&record));
                    return Ok((record, rejected));
                }
                SaveOutcome::Missing => {
                    shared.write_stripe(&id).cached = None;
                    tracing::info!(session = %id, "session ended (destroyed or expired) before this request saved it; its changes are dropped");
                    return Err(Error::Ended);
                }
                SaveOutcome::Conflict => {
                    metrics::counter!(names::CONFLICTS).increment(1);
                    if attempt >= config.max_attempts {
                        tracing::warn!(session = %id, attempt, "giving up on a contended session save");
                        return Err(Error::Contention(attempt));
                    }
                    if attempt > 2 {
                        // Repeated conflicts while this process writes one at a time come from
                        // other processes: back off a little, with jitter.
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    let fresh = shared
                        .call("load", Some(&id), shared.store.0.load_shared(&id))
                        .await?;
                    let now = self.now();
                    match fresh.filter(|r| !timing.is_dead(r, now)) {
                        Some(fresh) => {
                            shared.write_stripe(&id).cached = Some(Arc::clone(&fresh));
                            base = fresh;
                        }
                        None => {
                            shared.write_stripe(&id).cached = None;
                            return Err(Error::Ended);
                        }
                    }
                }
            }
        }
    }

    async fn touch_if_due(&self, force: bool) -> Result<(), Error> {
        let shared = &self.inner.shared;
        let timing = self.timing();
        let now = self.now();
        let (id, new_exp, persistent) = {
            let st = self.state();
            let (Some(stored), Some(working)) = (&st.stored, &st.working) else {
                return Ok(());
            };
            let new_exp = timing.next_expiry(working, now);
            let gain = new_exp - stored.expires_at;
            let due = gain >= timing.touch_after(working) && gain > time::Duration::ZERO;
            if !(due || (force && gain > time::Duration::ZERO)) {
                return Ok(());
            }
            (
                stored.id.clone(),
                new_exp,
                working.cookie.original_max_age.is_some(),
            )
        };
        if shared
            .call("touch", Some(&id), shared.store.0.touch(&id, new_exp))
            .await?
        {
            metrics::counter!(names::TOUCHED).increment(1);
            let mut guard = self.state();
            let st = &mut *guard;
            for r in [st.stored.as_mut(), st.working.as_mut()]
                .into_iter()
                .flatten()
                .map(Arc::make_mut)
            {
                r.expires_at = new_exp;
                if persistent {
                    r.cookie.expires = Some(new_exp);
                }
            }
            if persistent {
                st.cookie_pending = true;
            }
        }
        Ok(())
    }

    async fn delete_emptied(&self) -> Result<(), Error> {
        let shared = &self.inner.shared;
        let id = self.state().stored.as_ref().map(|r| r.id.clone());
        if let Some(id) = id {
            shared
                .call("delete", Some(&id), shared.store.0.delete(&id))
                .await?;
            metrics::counter!(names::DESTROYED, "reason" => "unset").increment(1);
        }
        let timing = self.timing();
        let mut st = self.state();
        st.stored = None;
        st.working = Some(Arc::new(timing.new_record(
            timing.new_id(),
            self.now(),
            self.inner.tls,
        )));
        st.ops.clear();
        st.destroyed = true;
        Ok(())
    }
}

/// This request's change log (its first `taken` entries).
fn ops_of(session: &Session, taken: usize) -> Vec<Op> {
    let st = session.state();
    st.ops.iter().take(taken).cloned().collect()
}

/// A queued request's wait. If the request is cancelled (the client went away) after the
/// turn was passed to it but before it took it, the turn is passed on from `Drop`, so the
/// stripe never stays busy without a leader.
struct WaitGuard<'a> {
    session: &'a Session,
    id: &'a SessionId,
    rx: Option<tokio::sync::oneshot::Receiver<Msg>>,
}

impl WaitGuard<'_> {
    async fn wait(mut self) -> Result<Msg, tokio::sync::oneshot::error::RecvError> {
        let rx = self.rx.as_mut().expect("receiver present until answered");
        let msg = rx.await;
        self.rx = None;
        msg
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(Msg::Lead) = rx.try_recv() {
                self.session.inner.shared.write_stripe(self.id).hand_off();
            }
        }
    }
}

/// Frees the stripe (handing the turn on) if a leader's request is cancelled mid-save, so
/// queued requests never wait forever.
struct LeaderGuard<'a> {
    session: &'a Session,
    id: SessionId,
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.session.inner.shared.write_stripe(&self.id).hand_off();
        }
    }
}

/// 1–2 ms × attempt with random jitter, capped at 50 ms.
fn backoff(attempt: u32) -> Duration {
    let mut b = [0u8; 2];
    let jitter = if getrandom::fill(&mut b).is_ok() {
        u64::from(u16::from_le_bytes(b)) % 1000
    } else {
        500
    };
    Duration::from_micros((u64::from(attempt) * 1000 + jitter * u64::from(attempt)).min(50_000))
}
