//! Write combining for one session: concurrent saves of the same session in this process
//! are merged into one conditional save.
//!
//! Each write stripe has at most one *leader* saving at a time. Requests that want to save
//! while a leader is busy queue their change logs; the leader takes every queued change log
//! of its session into its next save (replaying them in queue order on the freshest record
//! it knows) and hands each request the stored result. When its own save is done, the leader
//! passes leadership to the next queued request, so nobody waits behind an endless stream.
//! A contended session therefore costs one store write per batch instead of one per request,
//! and nothing is lost: every change log is replayed, and `update` closures re-run. Each
//! change log applies all-or-nothing: one whose `update` cannot read the fresher value is
//! left out of the save, and only its own request fails.

use crate::error::{Error, StoreError};
use crate::id::SessionId;
use crate::record::Record;
use crate::state::Op;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A stripe: the leader flag, the queue, and the last record this process saved in it.
#[derive(Default)]
pub(crate) struct Stripe {
    pub cached: Option<Arc<Record>>,
    pub busy: bool,
    pub queue: Vec<Waiter>,
}

/// A request waiting for the leader.
pub(crate) struct Waiter {
    pub id: SessionId,
    pub ops: Vec<Op>,
    pub tx: oneshot::Sender<Msg>,
}

/// What a waiting request hears back.
pub(crate) enum Msg {
    /// The save that included this request's changes finished.
    Done(Result<Arc<Record>, Shared>),
    /// The previous leader is done: this request saves next.
    Lead,
}

/// A batch outcome that can be handed to several requests.
#[derive(Clone, Debug)]
pub(crate) enum Shared {
    Ended,
    Contention(u32),
    Timeout(std::time::Duration),
    Unavailable(String),
    Json(String),
}

impl Shared {
    pub(crate) fn from_error(e: &Error) -> Self {
        match e {
            Error::Ended => Self::Ended,
            Error::Contention(n) => Self::Contention(*n),
            Error::Store(StoreError::Timeout(d)) => Self::Timeout(*d),
            Error::Json(e) => Self::Json(e.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }

    pub(crate) fn into_error(self) -> Error {
        match self {
            Self::Ended => Error::Ended,
            Self::Contention(n) => Error::Contention(n),
            Self::Timeout(d) => Error::Store(StoreError::Timeout(d)),
            Self::Unavailable(m) => Error::Store(StoreError::unavailable(m)),
            Self::Json(m) => Error::Json(<serde_json::Error as serde::de::Error>::custom(m)),
        }
    }
}

impl Stripe {
    /// Passes leadership to the next queued request still waiting, or frees the stripe.
    pub(crate) fn hand_off(&mut self) {
        while !self.queue.is_empty() {
            let next = self.queue.remove(0);
            if next.tx.send(Msg::Lead).is_ok() {
                return;
            }
        }
        self.busy = false;
    }

    /// Takes the queued change logs of session `id`.
    pub(crate) fn take_same(&mut self, id: &SessionId) -> Vec<Waiter> {
        let (same, other) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|w| &w.id == id);
        self.queue = other;
        same
    }
}

/// Per change log, the error that kept it out of a combined save (`None`: applied).
pub(crate) type Rejected = Vec<Option<serde_json::Error>>;

/// Applies the change logs in order to a copy of `base`. A log that fails (an `update`
/// closure that cannot read the fresher value) is left out as a whole, so one request's
/// bad replay never fails the others it was combined with. The fast path applies in place;
/// only when a log fails are the logs applied again one copy at a time.
pub(crate) fn apply_logs<'a>(
    base: &Record,
    logs: impl Iterator<Item = &'a [Op]> + Clone,
) -> (Record, Rejected) {
    let mut record = base.clone();
    if logs
        .clone()
        .flatten()
        .try_for_each(|op| op.apply(&mut record))
        .is_ok()
    {
        return (record, logs.map(|_| None).collect());
    }
    let mut record = base.clone();
    let rejected = logs
        .map(|log| {
            let mut trial = record.clone();
            match log.iter().try_for_each(|op| op.apply(&mut trial)) {
                Ok(()) => {
                    record = trial;
                    None
                }
                Err(e) => Some(e),
            }
        })
        .collect();
    (record, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use time::OffsetDateTime;

    fn incr() -> Op {
        Op::Update(
            "n".into(),
            Arc::new(|old: Option<&Value>| {
                let n: Option<u64> = old.map(u64::deserialize).transpose()?;
                serde_json::to_value(n.unwrap_or(0) + 1)
            }),
        )
    }

    use serde::Deserialize as _;

    #[test]
    fn a_failing_log_is_left_out_whole_and_the_others_apply() {
        let now = OffsetDateTime::now_utc();
        let mut base = Record::new(SessionId::generate(), now, now);
        base.data.insert("n".into(), json!("not a number"));
        let ok1 = vec![Op::Insert("a".into(), json!(1))];
        // Inserts first, then an update that cannot read "n": none of it may apply.
        let bad = vec![Op::Insert("b".into(), json!(2)), incr()];
        let ok2 = vec![Op::Remove("n".into()), incr()];
        let logs = [ok1.as_slice(), bad.as_slice(), ok2.as_slice()];
        let (record, rejected) = apply_logs(&base, logs.iter().copied());
        assert_eq!(
            rejected.iter().map(Option::is_some).collect::<Vec<_>>(),
            [false, true, false]
        );
        assert_eq!(record.data.get("a"), Some(&json!(1)));
        assert_eq!(
            record.data.get("b"),
            None,
            "the failing log's insert is undone"
        );
        assert_eq!(record.data.get("n"), Some(&json!(1)));
    }

    #[test]
    fn the_fast_path_applies_every_log_in_order() {
        let now = OffsetDateTime::now_utc();
        let base = Record::new(SessionId::generate(), now, now);
        let logs = [vec![incr()], vec![incr(), incr()]];
        let (record, rejected) = apply_logs(&base, logs.iter().map(Vec::as_slice));
        assert!(rejected.iter().all(Option::is_none));
        assert_eq!(record.data.get("n"), Some(&json!(3)));
    }
}
