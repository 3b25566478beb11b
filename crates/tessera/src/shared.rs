//! What every request of one layer shares: the configuration, the store, and the
//! instrumented, time-limited way of calling the store.

use crate::config::SessionConfig;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::BoxedStore;
use std::future::Future;
use std::hash::BuildHasher;
use std::time::Instant;
use tracing::Instrument as _;

/// Metric names (through the `metrics` facade; install any recorder to collect them).
pub mod names {
    /// Counter: sessions created in the store.
    pub const CREATED: &str = "tessera_sessions_created_total";
    /// Counter: sessions loaded from the store.
    pub const LOADED: &str = "tessera_sessions_loaded_total";
    /// Counter: conditional saves that succeeded.
    pub const SAVED: &str = "tessera_sessions_saved_total";
    /// Counter: expiry refreshes (touches).
    pub const TOUCHED: &str = "tessera_sessions_touched_total";
    /// Counter: sessions destroyed (logout, expiry on load, emptied with `Unset::Destroy`).
    pub const DESTROYED: &str = "tessera_sessions_destroyed_total";
    /// Counter: conditional saves that lost to a concurrent write and were replayed.
    pub const CONFLICTS: &str = "tessera_session_conflicts_total";
    /// Counter: failed store operations, labelled by `op` and `kind`.
    pub const STORE_ERRORS: &str = "tessera_store_errors_total";
    /// Histogram: store operation latency in seconds, labelled by `op`.
    pub const STORE_LATENCY: &str = "tessera_store_op_seconds";
}

const WRITE_STRIPES: usize = 256;

pub(crate) struct Shared {
    pub config: SessionConfig,
    pub store: BoxedStore,
    /// Write stripes: conditional saves of one session inside this process are combined
    /// (see `combine.rs`), and each stripe remembers the record this process saved last, so
    /// a request that loaded an older version rebases on it without a store round trip.
    write_stripes: Box<[std::sync::Mutex<crate::combine::Stripe>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Shared {
    pub(crate) fn new(config: SessionConfig, store: BoxedStore) -> Self {
        Self {
            config,
            store,
            write_stripes: (0..WRITE_STRIPES)
                .map(|_| std::sync::Mutex::new(crate::combine::Stripe::default()))
                .collect(),
            hasher: Default::default(),
        }
    }

    /// The write stripe of a session, locked (never held across an `.await`).
    pub(crate) fn write_stripe(
        &self,
        id: &SessionId,
    ) -> std::sync::MutexGuard<'_, crate::combine::Stripe> {
        self.write_stripes[(self.hasher.hash_one(id) as usize) % WRITE_STRIPES]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one store operation with the configured timeout, a tracing span (with the
    /// session's log tag, never its id), a latency histogram and an error counter.
    pub(crate) async fn call<T>(
        &self,
        op: &'static str,
        id: Option<&SessionId>,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = tracing::debug_span!(
            "tessera.store",
            op,
            // Displayed (hashed) only if the span is recorded.
            session = id.map(tracing::field::display)
        );
        let started = Instant::now();
        let limit = self.config.store_timeout;
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

/// Records a store latency. Literal labels let `metrics` use a static key: no allocation
/// per call on the hot path.
fn record_latency(op: &'static str, secs: f64) {
    macro_rules! record {
        ($($op:literal),*) => {
            match op {
                $($op => metrics::histogram!(names::STORE_LATENCY, "op" => $op).record(secs),)*
                other => metrics::histogram!(names::STORE_LATENCY, "op" => other).record(secs),
            }
        };
    }
    record!("load", "create", "save", "touch", "delete");
}
