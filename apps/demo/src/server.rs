//! The HTTP server: hyper's HTTP/1 connection with a header-read timeout, a cap on open
//! connections, and a graceful shutdown with a drain deadline.
//!
//! `axum::serve` offers none of the first two (it sets no timer, so hyper's header-read
//! timeout never runs, and it accepts without limit): 300 half-sent requests stayed open
//! forever (issue 11, point 3). The request timeout itself is a tower-http layer on the
//! router (see `App::build`), so it applies however the router is served.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// Connection limits (`HEADER_READ_TIMEOUT`, `MAX_CONNECTIONS`, `SHUTDOWN_TIMEOUT`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection that has not sent a complete request head this long after it opened
    /// (or after its previous response, when kept alive) is closed.
    pub header_read_timeout: Duration,
    /// Open connections at most; at the cap the server stops accepting (new connections
    /// wait in the kernel's backlog) until one closes.
    pub max_connections: usize,
    /// After the shutdown signal: how long requests in flight get to finish before the
    /// remaining connections are closed.
    pub drain: Duration,
}

impl Default for Limits {
    /// The documented defaults: 10 s, 10,000 connections, 10 s.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` (peer addresses available to handlers as
/// `ConnectInfo<SocketAddr>`) until `shutdown` completes; then stops accepting, lets
/// requests in flight finish for at most `limits.drain`, and closes what is left.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Finished connection tasks are reaped as we go, so the set stays bounded by
        // the connection cap.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, peer, slot)) = accepted else {
            continue;
        };
        let service = router
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        connections.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "shutdown: no longer accepting"
    );
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            drain = ?limits.drain,
            "shutdown: connections still open after SHUTDOWN_TIMEOUT; closing them"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Waits for a free connection slot, then for a connection. Accept errors (such as
/// running out of file descriptors) are logged and retried after a short pause instead
/// of ending the server.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, peer, slot))
        }
        Err(e) => {
            tracing::warn!(error = %e, "accept failed");
            // Back-off, not synchronisation: nothing signals that descriptors are free.
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}
