//! [`Writer`]: carries out a [`Plan`] against the store. It knows records, change logs and
//! the store, nothing of `Session` or HTTP.

use crate::combine::{Combiner, SaveContext};
use crate::config::SessionConfig;
use crate::error::{Error, StoreError};
use crate::id::SessionId;
use crate::instrumented::Instrumented;
use crate::lifetime::Lifetime;
use crate::log::Op;
use crate::metrics::names;
use crate::record::Record;
use std::sync::Arc;
use time::OffsetDateTime;

/// Why a session is deleted (the `reason` label of the destroyed counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeleteReason {
    /// `Session::destroy()`.
    Destroy,
    /// Found dead (idle or absolute timeout) on load.
    Expired,
    /// Emptied by the request with `Unset::Destroy`.
    Unset,
}

impl DeleteReason {
    fn label(self) -> &'static str {
        match self {
            Self::Destroy => "destroy",
            Self::Expired => "expired",
            Self::Unset => "unset",
        }
    }
}

/// One store write decided for a session.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Nothing to write.
    Nothing,
    /// Store `record` as a new session (under a new id if the id is taken), then delete
    /// `replaces` (an id change: the old record goes only once the new one exists).
    /// `taken` = how many change-log entries the record includes.
    Create {
        record: Box<Record>,
        replaces: Option<SessionId>,
        taken: usize,
    },
    /// Conditionally save `base` with `log` applied (combined with concurrent saves of the
    /// same session; replayed on conflict).
    Save { base: Arc<Record>, log: Vec<Op> },
    /// Move the expiry of a stored session.
    Touch {
        id: SessionId,
        expires_at: OffsetDateTime,
    },
    /// Delete a stored session.
    Delete { id: SessionId, reason: DeleteReason },
}

impl Plan {
    /// How many change-log entries the write includes.
    pub(crate) fn taken(&self) -> usize {
        match self {
            Plan::Create { taken, .. } => *taken,
            Plan::Save { log, .. } => log.len(),
            _ => 0,
        }
    }
}

/// What a carried-out plan left in the store.
#[derive(Debug)]
pub(crate) enum Written {
    /// Nothing was written (or a touch found the session gone).
    Nothing,
    /// The new record, with its version.
    Created(Box<Record>),
    /// The saved record (shared with requests combined into the same save).
    Saved(Arc<Record>),
    /// The new expiry.
    Touched(OffsetDateTime),
    /// The session is gone.
    Deleted,
}

/// The write side of the engine.
pub(crate) struct Writer {
    config: Arc<SessionConfig>,
    store: Instrumented,
    combiner: Combiner,
}

impl Writer {
    pub(crate) fn new(config: Arc<SessionConfig>, store: Instrumented) -> Self {
        Self {
            config,
            store,
            combiner: Combiner::default(),
        }
    }

    /// Sessions with a save in flight (entries in the combining table).
    pub(crate) fn in_flight(&self) -> usize {
        self.combiner.in_flight()
    }

    /// Carries out `plan`.
    pub(crate) async fn execute(&self, plan: Plan) -> Result<Written, Error> {
        match plan {
            Plan::Nothing => Ok(Written::Nothing),
            Plan::Create {
                record, replaces, ..
            } => self
                .create(*record, replaces)
                .await
                .map(|r| Written::Created(Box::new(r))),
            Plan::Save { base, log } => {
                let cx = SaveContext {
                    store: &self.store,
                    config: &self.config,
                };
                self.combiner.save(&cx, base, log).await.map(Written::Saved)
            }
            Plan::Touch { id, expires_at } => {
                if self.store.touch(&id, expires_at).await? {
                    metrics::counter!(names::TOUCHED).increment(1);
                    Ok(Written::Touched(expires_at))
                } else {
                    Ok(Written::Nothing)
                }
            }
            Plan::Delete { id, reason } => {
                if self.store.delete(&id).await? {
                    metrics::counter!(names::DESTROYED, "reason" => reason.label()).increment(1);
                }
                Ok(Written::Deleted)
            }
        }
    }

    async fn create(
        &self,
        mut record: Record,
        replaces: Option<SessionId>,
    ) -> Result<Record, Error> {
        let lifetime = Lifetime {
            config: &self.config,
        };
        let mut attempts = 0;
        record.version = loop {
            match self.store.create(&record).await {
                Ok(v) => break v,
                Err(StoreError::IdCollision) if attempts < 3 => {
                    attempts += 1;
                    tracing::warn!("session id collision on create; generating another id");
                    record.id = lifetime.new_id();
                }
                Err(e) => return Err(e.into()),
            }
        };
        metrics::counter!(names::CREATED).increment(1);
        if let Some(old) = &replaces {
            self.store.delete(old).await?;
        }
        Ok(record)
    }
}
