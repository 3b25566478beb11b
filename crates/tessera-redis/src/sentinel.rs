//! Redis Sentinel: a connection to whichever server Sentinel currently names as master.
//!
//! redis-rs's [`SentinelClient`] answers "who is the master now?", but its connections
//! stay on the server they were opened to. [`SentinelConn`] keeps one single-server
//! connection (a [`ConnectionManager`], batched like the plain single-server mode) to the
//! current master and asks Sentinel again
//!
//! - after an error that a failover causes (connection refused or dropped, timeouts,
//!   `READONLY` from a demoted master, `MASTERDOWN`), and
//! - every [`RESOLVE_EVERY`], so a demoted master that still answers reads is left quickly.
//!
//! When the answer changes, new commands go to the new master; commands in flight on the
//! old one finish or fail there (the layer answers 503, the client retries). One
//! resolution runs at a time.

use crate::conn::Conn;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use redis::{ProtocolVersion, RedisConnectionInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// How often the master is looked up even without errors.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(2);

/// A connection that follows the Sentinel-elected master; cheap to clone.
#[derive(Clone)]
pub(crate) struct SentinelConn {
    inner: Arc<Inner>,
}

struct Inner {
    sentinel: tokio::sync::Mutex<SentinelClient>,
    /// The master's address and the connection to it.
    current: RwLock<(String, Conn)>,
    options: Options,
    resolving: AtomicBool,
}

/// How to connect to the master.
pub(crate) struct Options {
    /// Connection settings (timeouts, backoff, push handler).
    pub config: ConnectionManagerConfig,
    /// Batch commands (see `batch.rs`).
    pub batch: bool,
    /// Bound on asking Sentinel.
    pub timeout: Duration,
    /// Speak RESP3 to the master (the near cache's invalidations).
    pub resp3: bool,
    /// Called when commands start going to a new master.
    pub on_switch: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl SentinelConn {
    /// Asks the Sentinels at `nodes` for the master of `service` and connects to it.
    pub(crate) async fn connect(
        nodes: &[String],
        service: &str,
        options: Options,
    ) -> RedisResult<Self> {
        let node_info = options.resp3.then(|| {
            SentinelNodeConnectionInfo::default().set_redis_connection_info(
                RedisConnectionInfo::default().set_protocol(ProtocolVersion::RESP3),
            )
        });
        let mut sentinel = SentinelClient::build(
            nodes.to_vec(),
            service.to_owned(),
            node_info,
            SentinelServerType::Master,
        )?;
        let master = tokio::time::timeout(options.timeout, sentinel.async_get_client())
            .await
            .map_err(|_| timed_out())??;
        let current = connection_to(master, &options)?;
        let conn = Self {
            inner: Arc::new(Inner {
                sentinel: tokio::sync::Mutex::new(sentinel),
                current: RwLock::new(current),
                options,
                resolving: AtomicBool::new(false),
            }),
        };
        tokio::spawn(resolve_periodically(Arc::downgrade(&conn.inner)));
        Ok(conn)
    }

    /// The connection to the master as last resolved.
    pub(crate) fn current(&self) -> Conn {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// Looks the master up again if `result` (or, for `Ok`, the replies `failed` finds in
    /// it) shows an error a failover can cause.
    pub(crate) fn after<T>(&self, result: &RedisResult<T>, failed: impl FnOnce(&T) -> bool) {
        let failover = match result {
            Err(e) => caused_by_failover(e),
            Ok(v) => failed(v),
        };
        if failover {
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move { inner.resolve().await });
        }
    }
}

impl Inner {
    /// Asks Sentinel for the master; switches when it moved. One resolution at a time.
    async fn resolve(&self) {
        if self.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let result = async {
            let master = {
                let mut sentinel = self.sentinel.lock().await;
                tokio::time::timeout(self.options.timeout, sentinel.async_get_client())
                    .await
                    .map_err(|_| timed_out())??
            };
            let addr = master.get_connection_info().addr().to_string();
            let moved = {
                let current = self.current.read().unwrap_or_else(|e| e.into_inner());
                current.0 != addr
            };
            if moved {
                let next = connection_to(master, &self.options)?;
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
                // After the switch: a read still in flight on the old master was sent
                // before this flush, so it cannot fill the cache either.
                if let Some(on_switch) = &self.options.on_switch {
                    on_switch();
                }
                tracing::warn!(master = %addr, "redis sentinel: the master moved; switched to it");
            }
            Ok::<_, RedisError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "redis sentinel: could not look up the master");
        }
        self.resolving.store(false, Ordering::Release);
    }
}

async fn resolve_periodically(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(RESOLVE_EVERY).await;
        let Some(inner) = inner.upgrade() else {
            return; // the store is gone
        };
        inner.resolve().await;
    }
}

/// A lazily connecting, batched connection to `master`.
fn connection_to(master: redis::Client, options: &Options) -> RedisResult<(String, Conn)> {
    let addr = master.get_connection_info().addr().to_string();
    let manager = ConnectionManager::new_lazy_with_config(master, options.config.clone())?;
    Ok((addr, Conn::single(manager, options.batch)))
}

fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "redis sentinel did not answer in time",
    ))
}

/// Errors after which the master may have moved.
fn caused_by_failover(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(e.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"))
}

/// Server errors inside replies (pipelines keep them per command).
fn replies_caused_by_failover(values: &[Value]) -> bool {
    values.iter().any(|v| {
        matches!(v, Value::ServerError(e)
            if matches!(e.code(), "READONLY" | "MASTERDOWN" | "LOADING"))
    })
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.current().req_packed_command(cmd).await;
            self.after(&result, |v| {
                replies_caused_by_failover(std::slice::from_ref(v))
            });
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .current()
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.after(&result, |v| replies_caused_by_failover(v));
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.current().get_db()
    }
}
