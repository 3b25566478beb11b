//! Tessera as a contestant in the peer load benchmark (`../shared/bench-peers`): serves
//! `GET /login`, `/read`, `/incr`, `/none` on 127.0.0.1:$PORT.
//!
//! `tessera-bench-server --store memory|redis|sqlite|postgres [--count-ops]` (`REDIS_URL`,
//! `SQLITE_PATH`, `DATABASE_URL`; `REDIS_BATCH=0` turns off Redis command batching;
//! `MEMORY_MAX_ENTRIES` raises the memory store's bound for scale runs).
//! `--count-ops` wraps the store in a counter read at `GET /_stats` (for `store-ops.sh`);
//! without it the store is used as an application would use it.

use anyhow::{Context as _, bail};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tessera::{MemoryStore, Session, SessionConfig, SessionLayer};

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
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()
        .context("PORT")?
        .unwrap_or(8110);
    let args: Vec<String> = std::env::args().collect();
    let store = match args
        .iter()
        .position(|a| a == "--store")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
    {
        None | Some("memory") => {
            // MEMORY_MAX_ENTRIES raises the default bound (100,000) for scale runs.
            let max = std::env::var("MEMORY_MAX_ENTRIES")
                .ok()
                .map(|v| v.parse())
                .transpose()
                .context("MEMORY_MAX_ENTRIES")?
                .unwrap_or(tessera::DEFAULT_MAX_ENTRIES);
            tessera::BoxedStore::new(MemoryStore::builder().max_entries(max).build())
        }
        Some("redis") => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".into());
            let batch = std::env::var("REDIS_BATCH").map_or(true, |v| v != "0");
            let store = tessera_redis::RedisStore::builder()
                .url(url)
                .batch_commands(batch)
                .build()
                .await?;
            tessera::BoxedStore::new(store)
        }
        Some("sqlite") => {
            let path =
                std::env::var("SQLITE_PATH").unwrap_or_else(|_| "/tmp/tessera-bench.db".into());
            let _ = std::fs::remove_file(&path);
            tessera::BoxedStore::new(tessera_sql::SqliteStore::builder(path).connect().await?)
        }
        Some("postgres") => {
            let url = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let store = tessera_sql::PostgresStore::builder(url)
                .table("tessera_bench_sessions")
                .connect()
                .await?;
            tessera::BoxedStore::new(store)
        }
        Some(other) => bail!("unknown store {other:?}"),
    };
    let config = SessionConfig::builder()
        .secret("benchmark secret of at least thirty-two bytes")
        .build()?;
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
