//! Tessera as a contestant in the peer load benchmark (`../shared/bench-peers`): serves
//! `GET /login`, `/read`, `/incr`, `/none` on 127.0.0.1:$PORT.
//!
//! `tessera-bench-server --store memory|redis|sqlite|postgres [--count-ops]` (`REDIS_URL`,
//! `SQLITE_PATH`, `DATABASE_URL`; `REDIS_BATCH=0` turns off Redis command batching;
//! `MEMORY_MAX_ENTRIES` raises the memory store's bound for scale runs).
//! `--count-ops` wraps the store in a counter read at `GET /_stats` (for `store-ops.sh`);
//! without it the store is used as an application would use it.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tessera::{Session, SessionLayer};

mod stats;

async fn login(s: Session) -> Result<&'static str, tessera::Error> {
    s.insert("user", "bench").await?;
    s.insert("n", 0).await?;
    Ok("ok")
}

async fn read(s: Session) -> Result<Result<String, StatusCode>, tessera::Error> {
    Ok(s.get::<String>("user")
        .await?
        .ok_or(StatusCode::UNAUTHORIZED))
}

async fn incr(s: Session) -> Result<Result<String, StatusCode>, tessera::Error> {
    if !s.contains("user").await? {
        return Ok(Err(StatusCode::UNAUTHORIZED));
    }
    Ok(Ok(s
        .update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
        .await?
        .to_string()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port = tessera_bench_server::port(8110)?;
    let args: Vec<String> = std::env::args().collect();
    let store = tessera_bench_server::open_store(&args).await?;
    let config = tessera_bench_server::config()?;
    let app = Router::new()
        .route("/login", get(login))
        .route("/read", get(read))
        .route("/incr", get(incr))
        .route("/none", get(|| async { "none" }));
    let app = if args.iter().any(|a| a == "--count-ops") {
        app.route("/_stats", get(stats::report).delete(stats::reset))
            .layer(SessionLayer::new(stats::Counted(store), config))
    } else {
        app.layer(SessionLayer::with_boxed(store, config))
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("tessera bench server on 127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
