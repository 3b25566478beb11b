//! The layer test kit's adapter for actix-web: each instance is a real actix-web server
//! (its own thread and `System`, one worker) with `TesseraSession` around the kit's
//! routes, driven over HTTP.
#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::future::Future;
use std::pin::Pin;
use tessera::testkit::layer::{Adapter, HttpInstance, Instance, Routes};
use tessera::{BoxedStore, SessionConfig};
use tessera_actix::{Session, TesseraSession};

pub struct ActixAdapter;

/// Serves `sessions` around `routes` on a free loopback port; returns the address.
pub fn serve(sessions: TesseraSession, routes: Routes) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let routes = routes.clone();
                App::new().wrap(sessions.clone()).default_service(web::to(
                    move |req: HttpRequest, session: Option<Session>| {
                        let routes = routes.clone();
                        async move {
                            let session = session.map(Session::into_inner);
                            let (status, body) = routes.respond(session, req.path()).await;
                            let status = actix_web::http::StatusCode::from_u16(status.as_u16())
                                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
                            HttpResponse::build(status).body(body)
                        }
                    },
                ))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind");
            let addr = server.addrs()[0];
            tx.send(addr).expect("report the address");
            server.run().await.expect("actix server");
        });
    });
    rx.recv().expect("the actix server started")
}

impl Adapter for ActixAdapter {
    fn instance(
        &self,
        store: BoxedStore,
        config: SessionConfig,
        routes: Routes,
    ) -> Pin<Box<dyn Future<Output = Box<dyn Instance>> + Send>> {
        let sessions = TesseraSession::new(store, config);
        Box::pin(async move {
            let addr = tokio::task::spawn_blocking(move || serve(sessions, routes))
                .await
                .expect("start the actix server");
            Box::new(HttpInstance { addr }) as Box<dyn Instance>
        })
    }
}

/// A random lowercase hex token for per-run namespaces.
pub fn token() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("OS random source");
    format!("{:016x}", u64::from_le_bytes(b))
}

/// Deletes the sessions and user indexes under `prefix` through the store's own
/// `clear()` (SCAN + DEL of its keys only; the server is shared, never flushed).
pub async fn delete_redis_namespace(url: &str, prefix: &str) {
    let store = tessera_redis::RedisStore::builder()
        .url(url)
        .prefix(prefix)
        .build();
    if let Ok(store) = store.await {
        let _ = store.clear().await;
    }
}
