//! What the benchmark's contestants share: the store chosen by `--store` and the session
//! configuration, so the axum and actix-web servers differ only in their framework.

use anyhow::{Context as _, bail};
use tessera::{BoxedStore, MemoryStore, SessionConfig};

/// The store `--store memory|redis|sqlite|postgres` names (default memory): `REDIS_URL`
/// (default `redis://127.0.0.1:6390`, the harness's Redis), `REDIS_BATCH=0` (no command
/// batching), `SQLITE_PATH`, `DATABASE_URL`, `MEMORY_MAX_ENTRIES` (the memory store's
/// bound, for scale runs).
pub async fn open_store(args: &[String]) -> anyhow::Result<BoxedStore> {
    let store = match args
        .iter()
        .position(|a| a == "--store")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
    {
        None | Some("memory") => {
            let max = std::env::var("MEMORY_MAX_ENTRIES")
                .ok()
                .map(|v| v.parse())
                .transpose()
                .context("MEMORY_MAX_ENTRIES")?
                .unwrap_or(tessera::DEFAULT_MAX_ENTRIES);
            BoxedStore::new(MemoryStore::builder().max_entries(max).build())
        }
        Some("redis") => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".into());
            let batch = std::env::var("REDIS_BATCH").map_or(true, |v| v != "0");
            // REDIS_NEAR_CACHE=<entries>: the coherent near cache (off when unset or 0).
            let near = std::env::var("REDIS_NEAR_CACHE")
                .ok()
                .map(|v| v.parse::<usize>())
                .transpose()
                .context("REDIS_NEAR_CACHE")?
                .unwrap_or(0);
            let store = tessera_redis::RedisStore::builder()
                .url(url)
                .batch_commands(batch)
                .near_cache(near)
                .build()
                .await?;
            BoxedStore::new(store)
        }
        Some("sqlite") => {
            let path =
                std::env::var("SQLITE_PATH").unwrap_or_else(|_| "/tmp/tessera-bench.db".into());
            let _ = std::fs::remove_file(&path);
            BoxedStore::new(tessera_sql::SqliteStore::builder(path).connect().await?)
        }
        Some("postgres") => {
            let url = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let store = tessera_sql::PostgresStore::builder(url)
                .table("tessera_bench_sessions")
                .connect()
                .await?;
            BoxedStore::new(store)
        }
        Some(other) => bail!("unknown store {other:?}"),
    };
    Ok(store)
}

/// The contestants' session configuration (library defaults, a fixed secret).
pub fn config() -> anyhow::Result<SessionConfig> {
    Ok(SessionConfig::builder()
        .secret("benchmark secret of at least thirty-two bytes")
        .build()?)
}

/// The listening port: `$PORT`, else `default`.
pub fn port(default: u16) -> anyhow::Result<u16> {
    Ok(std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()
        .context("PORT")?
        .unwrap_or(default))
}
