//! Tessera on actix-web as a contestant in the peer load benchmark: the same endpoints
//! and store choice as `tessera-bench-server` (axum), through `tessera-actix`, with
//! actix-web's default worker count like the actix-session peer.
//!
//! `tessera-bench-actix --store memory|redis|sqlite|postgres` on 127.0.0.1:$PORT (8115).

use actix_web::{App, HttpResponse, HttpServer, web};
use tessera_actix::{Session, TesseraSession};

async fn login(s: Session) -> Result<HttpResponse, tessera_actix::Error> {
    s.insert("user", "bench").await?;
    s.insert("n", 0).await?;
    Ok(HttpResponse::Ok().body("ok"))
}

async fn read(s: Session) -> Result<HttpResponse, tessera_actix::Error> {
    Ok(match s.get::<String>("user").await? {
        Some(user) => HttpResponse::Ok().body(user),
        None => HttpResponse::Unauthorized().body("no session"),
    })
}

async fn incr(s: Session) -> Result<HttpResponse, tessera_actix::Error> {
    if !s.contains("user").await? {
        return Ok(HttpResponse::Unauthorized().body("no session"));
    }
    let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    Ok(HttpResponse::Ok().body(n.to_string()))
}

async fn none() -> HttpResponse {
    HttpResponse::Ok().body("none")
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let port = tessera_bench_server::port(8115)?;
    let args: Vec<String> = std::env::args().collect();
    let store = tessera_bench_server::open_store(&args).await?;
    let sessions = TesseraSession::new(store, tessera_bench_server::config()?);
    eprintln!("tessera actix bench server on 127.0.0.1:{port}");
    HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/login", web::get().to(login))
            .route("/read", web::get().to(read))
            .route("/incr", web::get().to(incr))
            .route("/none", web::get().to(none))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
