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

/// The layer kit on a fresh table, through a cuttable proxy (the outage check).
async fn kit() -> Option<tessera::testkit::layer::Kit> {
    let owned = fresh().await?;
    let url = url();
    let kit = proxied_kit(&url, 3306, owned, |url, table| {
        MySqlStore::builder(url)
            .table(table)
            .acquire_timeout(Duration::from_secs(1))
            .build()
            .expect("build")
    });
    Some(kit.await)
}

mod layer {
    tessera::layer_tests!(super::kit(); outage);
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

/// Node reads the row, adds `cart` and writes `sess` and `expire` back, leaving `version`
/// alone (as any Node store library sharing the table would).
async fn node_adds_cart(pool: &MySqlPool, table: &str, id: &tessera::SessionId) {
    let sess: Vec<u8> = sqlx::query_scalar(&format!("SELECT sess FROM `{table}` WHERE sid = ?"))
        .bind(id.as_str())
        .fetch_one(pool)
        .await
        .unwrap();
    let mut sess: serde_json::Value = serde_json::from_slice(&sess).unwrap();
    sess["cart"] = serde_json::json!(["apple"]);
    sqlx::query(&format!(
        "INSERT INTO `{table}` (sid, sess, expire) VALUES (?, ?, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR) \
         ON DUPLICATE KEY UPDATE sess = VALUES(sess), expire = VALUES(expire)"
    ))
    .bind(id.as_str())
    .bind(sess.to_string())
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_write_since_the_load_is_a_conflict() {
    use serde_json::json;
    use tessera::SaveOutcome;
    let Some(s) = fresh().await else { return };
    let (store, pool) = (&s.store, s.store.pool());
    let r = testkit::record(Some("42"), Duration::from_secs(600));
    store.create(&r).await.unwrap();
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    node_adds_cart(pool, &s.table, &r.id).await;
    let mut mine = loaded.clone();
    mine.data.insert("n".into(), json!(1));
    assert_eq!(store.save(&mine).await.unwrap(), SaveOutcome::Conflict);
    let fresh = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(
        fresh.data["cart"],
        json!(["apple"]),
        "Node's write is intact"
    );
    let mut mine = fresh.clone();
    mine.data.insert("n".into(), json!(1));
    let SaveOutcome::Saved(v) = store.save(&mine).await.unwrap() else {
        panic!("a save after a reload succeeds")
    };
    // The token computed for the written row is the one the server computes on load.
    let got = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(got.version, v);
    assert_eq!(got.data["cart"], json!(["apple"]));
    // A Node touch (expire only) keeps the token.
    sqlx::query(&format!(
        "UPDATE `{}` SET expire = UTC_TIMESTAMP(6) + INTERVAL 2 HOUR WHERE sid = ?",
        s.table
    ))
    .bind(r.id.as_str())
    .execute(pool)
    .await
    .unwrap();
    assert!(matches!(
        store.save(&got).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_write_during_a_request_survives_the_save() {
    let Some(s) = fresh().await else { return };
    let pool = s.store.pool().clone();
    let table = s.table.clone();
    node_write_during_a_request_survives(s.clone(), move |id| {
        let (pool, table) = (pool.clone(), table.clone());
        async move { node_adds_cart(&pool, &table, &id).await }
    })
    .await;
}
