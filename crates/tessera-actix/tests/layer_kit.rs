//! The core's layer test kit through the actix-web adapter (real HTTP, real actix servers)
//! on the memory store, Redis and PostgreSQL: two app instances lose no update (200
//! concurrent increments), a foreign write during a request is kept, lazy loading costs
//! nothing, no resurrection after a logout.

mod common;

use common::{ActixAdapter, token};
use tessera::testkit::layer::Kit;
use tessera::{BoxedStore, MemoryStore};

async fn memory_kit() -> Option<Kit> {
    let store = MemoryStore::default();
    Some(
        Kit::new(move || {
            let store = store.clone();
            async move { BoxedStore::new(store) }
        })
        .adapter(ActixAdapter),
    )
}

async fn redis_kit() -> Option<Kit> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let ns = format!("tessera_actix_{}", token());
    let open = {
        let (url, prefix) = (url.clone(), format!("{ns}:sess:"));
        move || {
            let (url, prefix) = (url.clone(), prefix.clone());
            async move {
                tessera_redis::RedisStore::builder()
                    .url(url)
                    .prefix(prefix)
                    .build()
                    .await
            }
        }
    };
    if let Err(e) = open().await {
        return tessera::testkit::skip(&format!("Redis unavailable at {url}: {e}"));
    }
    Some(
        Kit::new(move || {
            let open = open.clone();
            async move { BoxedStore::new(open().await.expect("Redis store")) }
        })
        .adapter(ActixAdapter)
        .cleanup(async move { common::delete_redis_namespace(&url, &format!("{ns}:sess:")).await }),
    )
}

async fn postgres_kit() -> Option<Kit> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let table = format!("tessera_actix_{}", token());
    let first = match tessera_sql::PostgresStore::builder(url.clone())
        .table(table.clone())
        .connect()
        .await
    {
        Ok(s) => s,
        Err(e) => return tessera::testkit::skip(&format!("PostgreSQL unavailable: {e}")),
    };
    let pool = first.pool().clone();
    let drop_sql = format!("DROP TABLE IF EXISTS {table}");
    Some(
        Kit::new(move || {
            let (url, table) = (url.clone(), table.clone());
            async move {
                BoxedStore::new(
                    tessera_sql::PostgresStore::builder(url)
                        .table(table)
                        .connect()
                        .await
                        .expect("PostgreSQL store"),
                )
            }
        })
        .adapter(ActixAdapter)
        .cleanup(async move {
            let _ = tessera_sql::sqlx::query(&drop_sql).execute(&pool).await;
        }),
    )
}

mod memory {
    use super::*;
    tessera::layer_tests!(memory_kit());
}

mod redis {
    use super::*;
    tessera::layer_tests!(redis_kit());
}

mod postgres {
    use super::*;
    tessera::layer_tests!(postgres_kit());
}
