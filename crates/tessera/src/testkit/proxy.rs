//! [`TcpCut`]: a loopback TCP proxy in front of a real server that a test can cut and
//! restore, so an outage can be tested against a shared server without stopping it.
//! While cut, every open connection is dropped and new ones are closed at once (the
//! client sees a reset, as when the server dies).

use crate::testkit::layer::Outage;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// A cuttable proxy to one upstream address.
pub struct TcpCut {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    conns: Mutex<Vec<AbortHandle>>,
}

impl TcpCut {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let upstream = upstream.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if shared.cut.load(Ordering::SeqCst) {
                        continue; // dropped: closed at once
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    let mut conns = shared.conns.lock().unwrap_or_else(|e| e.into_inner());
                    conns.retain(|c| !c.is_finished());
                    conns.push(task.abort_handle());
                }
            }
        });
        Ok(Self {
            addr,
            shared,
            accept,
        })
    }

    /// The port to connect to instead of the upstream's.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        for c in self
            .shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            c.abort();
        }
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

impl Outage for Arc<TcpCut> {
    fn stop(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.cut();
        Box::pin(async {})
    }
    fn start(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.restore();
        Box::pin(async {})
    }
}
