//! MySQL/MariaDB store against a real server (`MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`). Outside CI a missing server skips.
#![cfg(feature = "mysql")]

mod common;

use common::*;
use std::time::Duration;
use tessera::{SessionStore, testkit};
use tessera_sql::MySqlStore;
use tessera_sql::sqlx::{self, MySqlPool};

fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

fn server() -> Option<String> {
    let url = url();
    if reachable(&url, 3306) {
        Some(url)
    } else {
        testkit::skip(&format!("MySQL/MariaDB not reachable at {url}"))
    }
}

fn drop_table(url: String, table: String) -> Cleanup {
    Cleanup::new(move || async move {
        if let Ok(pool) = MySqlPool::connect(&url).await {
            let _ = sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    })
}

async fn fresh() -> Option<Owned<MySqlStore>> {
    let url = server()?;
    let table = table_name();
    let cleanup = drop_table(url.clone(), table.clone());
    let store = MySqlStore::builder(&url)
        .table(&table)
        .connect()
        .await
        .expect("connect and migrate");
    Some(Owned::new(store, table, cleanup))
}

mod conformance {
    tessera::conformance_tests!(super::fresh());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_migrations_create_one_table() {
    let Some(url) = server() else { return };
    let table = table_name();
    let _cleanup = drop_table(url.clone(), table.clone());
    let stores: Vec<_> = (0..8)
        .map(|_| {
            MySqlStore::builder(&url)
                .table(&table)
                .max_connections(2)
                .build()
                .unwrap()
        })
        .collect();
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| tokio::spawn(async move { s.migrate().await }))
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every migration succeeds");
    }
    let pool = stores[0].pool();
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(&table)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
    let idx: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(&table)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(idx, 3, "primary key, expire and user_id");
    let r = testkit::record(None, Duration::from_secs(60));
    stores[2].create(&r).await.unwrap();
    assert!(stores[6].load(&r.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_increments_through_two_layers() {
    let Some(a) = fresh().await else { return };
    let b = MySqlStore::builder(url()).table(&a.table).build().unwrap();
    two_layers_200_increments(a.store.clone(), b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_case_sensitive() {
    let Some(s) = fresh().await else { return };
    let r = testkit::record(None, Duration::from_secs(60));
    s.store.create(&r).await.unwrap();
    let flipped: String =
        r.id.as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
    let other = tessera::SessionId::parse(&flipped).unwrap();
    assert!(s.store.load(&other).await.unwrap().is_none());
}

#[tokio::test]
async fn unreachable_database_is_a_503_within_the_timeout() {
    let timeout = Duration::from_millis(500);
    let store = MySqlStore::builder(format!("mysql://root@127.0.0.1:{}/test", closed_port()))
        .acquire_timeout(timeout)
        .build()
        .unwrap();
    unreachable_answers_503(store, timeout).await;
}
