//! The change log: every change a handler makes to its session, kept in order so it can be
//! replayed on a fresher record when a concurrent write wins the conditional save.

use crate::record::Record;
use serde_json::Value;
use std::sync::Arc;

/// A re-runnable read-modify-write of one key (from `Session::update`).
pub(crate) type UpdateFn = Arc<dyn Fn(Option<&Value>) -> Result<Value, ApplyError> + Send + Sync>;

/// Why a change could not be applied (on replay, to a fresher record).
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// The stored value could not be read as the closure's type, or its result written.
    Json(serde_json::Error),
    /// A `Session::try_update` closure refused the fresher value (its text, for the log).
    Refused(String),
}

impl From<serde_json::Error> for ApplyError {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

impl From<ApplyError> for crate::error::Error {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Json(e) => Self::Json(e),
            ApplyError::Refused(m) => Self::Refused(m),
        }
    }
}

/// One change the handler made.
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
    pub(crate) fn apply(&self, r: &mut Record) -> Result<(), ApplyError> {
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

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be personal data: name the kind of change only.
        f.write_str(match self {
            Op::Insert(..) => "Insert",
            Op::Remove(_) => "Remove",
            Op::Clear => "Clear",
            Op::Update(..) => "Update",
            Op::SetUser(_) => "SetUser",
            Op::SetMaxAge(_) => "SetMaxAge",
            Op::SetAbsolute(_) => "SetAbsolute",
        })
    }
}

/// Per change log, the error that kept it out of a combined save (`None`: applied).
pub(crate) type Rejected = Vec<Option<ApplyError>>;

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
    use crate::id::SessionId;
    use serde::Deserialize as _;
    use serde_json::json;
    use time::OffsetDateTime;

    fn incr() -> Op {
        Op::Update(
            "n".into(),
            Arc::new(|old: Option<&Value>| {
                let n: Option<u64> = old.map(u64::deserialize).transpose()?;
                Ok(serde_json::to_value(n.unwrap_or(0) + 1)?)
            }),
        )
    }

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
