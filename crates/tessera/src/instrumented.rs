//! [`Instrumented`]: the store as the engine calls it, every operation bounded by the
//! configured timeout, traced (with the session's log tag, never its id), timed and
//! counted.

use crate::error::StoreError;
use crate::id::SessionId;
use crate::metrics::{names, record_latency};
use crate::record::Record;
use crate::store::{BoxedStore, SaveOutcome};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tracing::Instrument as _;

/// The configured store behind its timeout and instrumentation.
#[derive(Clone)]
pub(crate) struct Instrumented {
    store: BoxedStore,
    timeout: Duration,
}

impl Instrumented {
    pub(crate) fn new(store: BoxedStore, timeout: Duration) -> Self {
        Self { store, timeout }
    }

    /// The store itself, for administrative calls outside requests.
    pub(crate) fn inner(&self) -> &BoxedStore {
        &self.store
    }

    pub(crate) async fn load(&self, id: &SessionId) -> Result<Option<Arc<Record>>, StoreError> {
        self.call("load", id, self.store.0.load_shared(id)).await
    }

    pub(crate) async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        self.call("create", &record.id, self.store.0.create(record))
            .await
    }

    pub(crate) async fn save(
        &self,
        record: Arc<Record>,
    ) -> Result<(SaveOutcome, Arc<Record>), StoreError> {
        let id = record.id.clone();
        self.call("save", &id, self.store.0.save_shared(record))
            .await
    }

    pub(crate) async fn touch(
        &self,
        id: &SessionId,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.call("touch", id, self.store.0.touch(id, expires_at))
            .await
    }

    pub(crate) async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.call("delete", id, self.store.0.delete(id)).await
    }

    async fn call<T>(
        &self,
        op: &'static str,
        id: &SessionId,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        // The tag is displayed (hashed) only if the span is recorded.
        let span = tracing::debug_span!("tessera.store", op, session = %id);
        let started = Instant::now();
        let limit = self.timeout;
        let result = match tokio::time::timeout(limit, fut)
            .instrument(span.clone())
            .await
        {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(limit)),
        };
        let elapsed = started.elapsed();
        record_latency(op, elapsed.as_secs_f64());
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(elapsed_us = elapsed.as_micros() as u64, "store op done"),
            Err(e) => {
                metrics::counter!(names::STORE_ERRORS, "op" => op, "kind" => e.kind()).increment(1);
                tracing::warn!(error = %e, elapsed_us = elapsed.as_micros() as u64, "session store operation failed");
            }
        });
        result
    }
}
