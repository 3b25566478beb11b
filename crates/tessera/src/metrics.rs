//! Metric names (through the `metrics` facade; install any recorder to collect them) and
//! the allocation-free way the engine records them.

/// Metric names.
pub mod names {
    /// Counter: sessions created in the store.
    pub const CREATED: &str = "tessera_sessions_created_total";
    /// Counter: sessions loaded from the store.
    pub const LOADED: &str = "tessera_sessions_loaded_total";
    /// Counter: conditional saves that succeeded.
    pub const SAVED: &str = "tessera_sessions_saved_total";
    /// Counter: expiry refreshes (touches).
    pub const TOUCHED: &str = "tessera_sessions_touched_total";
    /// Counter: sessions destroyed (logout, expiry on load, emptied with `Unset::Destroy`),
    /// labelled by `reason` (`destroy`, `expired`, `unset`).
    pub const DESTROYED: &str = "tessera_sessions_destroyed_total";
    /// Counter: conditional saves that lost to a concurrent write and were replayed.
    pub const CONFLICTS: &str = "tessera_session_conflicts_total";
    /// Counter: failed store operations, labelled by `op` and `kind`.
    pub const STORE_ERRORS: &str = "tessera_store_errors_total";
    /// Histogram: store operation latency in seconds, labelled by `op`.
    pub const STORE_LATENCY: &str = "tessera_store_op_seconds";
}

/// Records a store latency. Literal labels let `metrics` use a static key: no allocation
/// per call on the hot path.
pub(crate) fn record_latency(op: &'static str, secs: f64) {
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
