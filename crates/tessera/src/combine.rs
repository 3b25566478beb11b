//! Write combining: concurrent conditional saves of **the same session** in this process
//! are merged into one store write. Saves of different sessions never wait for each other.
//!
//! A session has an entry in the table only while a save of it is in flight or queued.
//! The request that finds no entry becomes the *leader*: it saves its own change log plus
//! every change log queued meanwhile (replayed in queue order on the freshest record it
//! knows) and hands each request the stored result. When its save is done it passes
//! leadership to the next queued request, or removes the entry, so the table holds only
//! sessions being written right now. A hot session thus costs one store write per batch
//! instead of one per request, and nothing is lost: every log is replayed, `update`
//! closures re-run, and a log whose `update` cannot read the fresher value is left out
//! whole, failing only its own request.
//!
//! Cancellation is safe: a leader dropped mid-save, or a waiter dropped after being handed
//! the turn, passes the turn on from `Drop`.

use crate::config::SessionConfig;
use crate::error::{Error, StoreError};
use crate::id::SessionId;
use crate::instrumented::Instrumented;
use crate::lifetime::Lifetime;
use crate::log::{Op, Rejected, apply_logs};
use crate::metrics::names;
use crate::record::Record;
use crate::store::SaveOutcome;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// Lock shards of the session table (a shard lock is held for a few map operations only,
/// never across an `.await`).
const SHARDS: usize = 64;

/// The table of sessions with a save in flight.
pub(crate) struct Combiner {
    shards: Box<[Mutex<HashMap<SessionId, Entry>>]>,
    hasher: std::collections::hash_map::RandomState,
}

/// One session being saved: its queue and the record its last save in this batch run
/// produced.
#[derive(Default)]
struct Entry {
    latest: Option<Arc<Record>>,
    queue: VecDeque<Waiter>,
}

struct Waiter {
    log: Vec<Op>,
    tx: oneshot::Sender<Msg>,
}

enum Msg {
    /// The save that included this request's changes finished.
    Done(Result<Arc<Record>, BatchError>),
    /// The previous leader is done: this request saves next.
    Lead,
}

/// A batch outcome that can be handed to several requests.
#[derive(Clone, Debug)]
enum BatchError {
    Ended,
    Contention(u32),
    Timeout(Duration),
    Unavailable(String),
    Json(String),
    Refused(String),
}

impl BatchError {
    fn from_error(e: &Error) -> Self {
        match e {
            Error::Ended => Self::Ended,
            Error::Contention(n) => Self::Contention(*n),
            Error::Store(StoreError::Timeout(d)) => Self::Timeout(*d),
            Error::Json(e) => Self::Json(e.to_string()),
            Error::Refused(m) => Self::Refused(m.clone()),
            other => Self::Unavailable(other.to_string()),
        }
    }

    fn into_error(self) -> Error {
        match self {
            Self::Ended => Error::Ended,
            Self::Contention(n) => Error::Contention(n),
            Self::Timeout(d) => Error::Store(StoreError::Timeout(d)),
            Self::Unavailable(m) => Error::Store(StoreError::unavailable(m)),
            Self::Json(m) => Error::Json(<serde_json::Error as serde::de::Error>::custom(m)),
            Self::Refused(m) => Error::Refused(m),
        }
    }
}

/// What a save needs besides the records: the store and the rules.
pub(crate) struct SaveContext<'a> {
    pub store: &'a Instrumented,
    pub config: &'a SessionConfig,
}

impl Default for Combiner {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
        }
    }
}

impl Combiner {
    fn shard(&self, id: &SessionId) -> MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.shards[(self.hasher.hash_one(id) as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sessions with a save in flight or queued (for tests and metrics).
    pub(crate) fn in_flight(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Conditionally saves `base` plus `log`, combined with concurrent saves of the same
    /// session. Returns the stored record.
    pub(crate) async fn save(
        &self,
        cx: &SaveContext<'_>,
        base: Arc<Record>,
        log: Vec<Op>,
    ) -> Result<Arc<Record>, Error> {
        let id = base.id.clone();
        let mut log = Some(log);
        loop {
            let waiting = {
                let mut shard = self.shard(&id);
                match shard.get_mut(&id) {
                    Some(entry) => {
                        let (tx, rx) = oneshot::channel();
                        entry.queue.push_back(Waiter {
                            log: log.clone().unwrap_or_default(),
                            tx,
                        });
                        Some(rx)
                    }
                    None => {
                        shard.insert(id.clone(), Entry::default());
                        None
                    }
                }
            };
            let Some(rx) = waiting else {
                return self
                    .lead(cx, &id, base, log.take().unwrap_or_default())
                    .await;
            };
            let mut wait = WaitGuard {
                combiner: self,
                id: &id,
                rx,
                answered: false,
            };
            match wait.wait().await {
                Ok(Msg::Done(r)) => return r.map_err(BatchError::into_error),
                // The leader finished its own save and passed the turn to this request.
                Ok(Msg::Lead) => {
                    return self
                        .lead(cx, &id, base, log.take().unwrap_or_default())
                        .await;
                }
                // The leader's request was cancelled before it answered: queue again.
                Err(_) => continue,
            }
        }
    }

    /// Saves as the session's leader: this request's changes plus every queued change log,
    /// then hands the turn on.
    async fn lead(
        &self,
        cx: &SaveContext<'_>,
        id: &SessionId,
        base: Arc<Record>,
        own: Vec<Op>,
    ) -> Result<Arc<Record>, Error> {
        let mut guard = LeaderGuard {
            combiner: self,
            id,
            armed: true,
        };
        let (waiters, latest) = {
            let mut shard = self.shard(id);
            match shard.get_mut(id) {
                Some(e) => (std::mem::take(&mut e.queue), e.latest.clone()),
                None => (VecDeque::new(), None),
            }
        };
        // Another request of this process saved the session after this one loaded it:
        // start from that record (it is newer, or the save conflicts and reloads).
        let base = latest.unwrap_or(base);
        let outcome = save_batch(cx, base, &own, &waiters).await;
        if let Ok((record, _)) = &outcome {
            if let Some(e) = self.shard(id).get_mut(id) {
                e.latest = Some(Arc::clone(record));
            }
        }
        let own_outcome = match outcome {
            Ok((record, rejected)) => {
                let mut rejected = rejected.into_iter();
                let own = rejected.next().flatten();
                for (w, rejected) in waiters.into_iter().zip(rejected) {
                    let msg = match rejected {
                        Some(e) => Err(BatchError::from_error(&Error::from(e))),
                        None => Ok(Arc::clone(&record)),
                    };
                    let _ = w.tx.send(Msg::Done(msg));
                }
                match own {
                    Some(e) => Err(Error::from(e)),
                    None => Ok(record),
                }
            }
            Err(e) => {
                let shared_err = BatchError::from_error(&e);
                for w in waiters {
                    let _ = w.tx.send(Msg::Done(Err(shared_err.clone())));
                }
                Err(e)
            }
        };
        guard.armed = false;
        self.hand_off(id);
        own_outcome
    }

    /// Passes leadership to the next queued request still waiting, or removes the entry.
    fn hand_off(&self, id: &SessionId) {
        let mut shard = self.shard(id);
        if let Some(entry) = shard.get_mut(id) {
            while let Some(next) = entry.queue.pop_front() {
                if next.tx.send(Msg::Lead).is_ok() {
                    return;
                }
            }
        }
        shard.remove(id);
        // Give memory back after a burst of distinct sessions.
        if shard.capacity() > 64 && shard.len() < shard.capacity() / 8 {
            shard.shrink_to_fit();
        }
    }
}

/// One conditional save of `base` + every change log, replayed on a fresher record when a
/// concurrent writer (another process) wins. Returns the saved record and, per change log
/// (the leader's first, then the waiters'), the error that kept it out of the save.
async fn save_batch(
    cx: &SaveContext<'_>,
    mut base: Arc<Record>,
    own: &[Op],
    waiters: &VecDeque<Waiter>,
) -> Result<(Arc<Record>, Rejected), Error> {
    let lifetime = Lifetime { config: cx.config };
    let id = base.id.clone();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let logs = std::iter::once(own).chain(waiters.iter().map(|w| w.log.as_slice()));
        let (mut record, rejected) = apply_logs(&base, logs);
        if rejected.iter().all(Option::is_some) {
            // Nothing left to save: every change log failed.
            return Ok((base, rejected));
        }
        lifetime.refresh(&mut record, cx.config.clock.now());
        match cx.store.save(Arc::new(record)).await? {
            (SaveOutcome::Saved(_), saved) => {
                metrics::counter!(names::SAVED).increment(1);
                return Ok((saved, rejected));
            }
            (SaveOutcome::Missing, _) => {
                tracing::info!(session = %id, "session ended (destroyed or expired) before this request saved it; its changes are dropped");
                return Err(Error::Ended);
            }
            (SaveOutcome::Conflict, _) => {
                metrics::counter!(names::CONFLICTS).increment(1);
                if attempt >= cx.config.max_attempts {
                    tracing::warn!(session = %id, attempt, "giving up on a contended session save");
                    return Err(Error::Contention(attempt));
                }
                if attempt > 2 {
                    // Repeated conflicts while this process writes one at a time come from
                    // other processes: back off a little, with jitter.
                    tokio::time::sleep(backoff(attempt)).await;
                }
                let now = cx.config.clock.now();
                match cx.store.load(&id).await? {
                    Some(fresh) if !lifetime.is_dead(&fresh, now) => base = fresh,
                    _ => return Err(Error::Ended),
                }
            }
        }
    }
}

/// A queued request's wait. If the request is cancelled after the turn was passed to it
/// but before it took it, the turn is passed on from `Drop`, so a session never stays
/// busy without a leader.
struct WaitGuard<'a> {
    combiner: &'a Combiner,
    id: &'a SessionId,
    rx: oneshot::Receiver<Msg>,
    answered: bool,
}

impl WaitGuard<'_> {
    async fn wait(&mut self) -> Result<Msg, oneshot::error::RecvError> {
        let result = (&mut self.rx).await;
        self.answered = true;
        result
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.rx.close();
            if let Ok(Msg::Lead) = self.rx.try_recv() {
                self.combiner.hand_off(self.id);
            }
        }
    }
}

/// Passes the turn on if a leader's request is cancelled mid-save, so queued requests
/// never wait forever.
struct LeaderGuard<'a> {
    combiner: &'a Combiner,
    id: &'a SessionId,
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.combiner.hand_off(self.id);
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
