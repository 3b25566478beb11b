//! PostgreSQL store against a real server (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). Outside CI a missing server skips.
#![cfg(feature = "postgres")]

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tessera::{SaveOutcome, SessionId, SessionStore, testkit};
use tessera_sql::PostgresStore;
use tessera_sql::sqlx::{self, PgPool};

fn url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn server() -> Option<String> {
    let url = url();
    if reachable(&url, 5432) {
        Some(url)
    } else {
        testkit::skip(&format!("PostgreSQL not reachable at {url}"))
    }
}

fn drop_table(url: String, table: String) -> Cleanup {
    Cleanup::new(move || async move {
        if let Ok(pool) = PgPool::connect(&url).await {
            let _ = sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    })
}

/// A migrated store on a fresh table, dropped when the last clone goes away.
async fn fresh() -> Option<Owned<PostgresStore>> {
    let url = server()?;
    let table = table_name();
    let cleanup = drop_table(url.clone(), table.clone());
    let store = PostgresStore::builder(&url)
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
    let kit = proxied_kit(&url, 5432, owned, |url, table| {
        PostgresStore::builder(url)
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
            PostgresStore::builder(&url)
                .table(&table)
                .max_connections(2)
                .build()
                .expect("build")
        })
        .collect();
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| tokio::spawn(async move { s.migrate().await }))
        .collect();
    for t in tasks {
        t.await.expect("task").expect("every migration succeeds");
    }
    let pool = stores[0].pool();
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename = $1")
        .bind(&table)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(tables, 1);
    let indexes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_indexes WHERE tablename = $1")
        .bind(&table)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(indexes, 3, "primary key, expire and user_id");
    // And the table works from every instance.
    let r = testkit::record(None, Duration::from_secs(60));
    stores[3].create(&r).await.unwrap();
    assert!(stores[5].load(&r.id).await.unwrap().is_some());
}

#[tokio::test]
async fn unreachable_database_is_a_503_within_the_timeout() {
    let timeout = Duration::from_millis(500);
    let store = PostgresStore::builder(format!(
        "postgres://postgres@127.0.0.1:{}/test",
        closed_port()
    ))
    .acquire_timeout(timeout)
    .build()
    .unwrap();
    unreachable_answers_503(store, timeout).await;
}

#[tokio::test]
async fn table_names_are_validated() {
    for bad in ["session; DROP TABLE x", "a\"b", "", "1x"] {
        let err = PostgresStore::builder(url())
            .table(bad)
            .build()
            .unwrap_err();
        assert!(matches!(err, tessera_sql::Error::InvalidIdentifier(_)));
    }
    assert!(
        PostgresStore::builder(url())
            .schema("bad schema")
            .build()
            .is_err()
    );
}

/// connect-pg-simple 10's table.sql, with the table name substituted as it does.
fn connect_pg_simple_table_sql(table: &str) -> Vec<String> {
    let t = format!("\"{table}\"");
    vec![
        format!(
            "CREATE TABLE {t} (\"sid\" varchar NOT NULL COLLATE \"default\", \
             \"sess\" json NOT NULL, \"expire\" timestamp(6) NOT NULL) WITH (OIDS=FALSE)"
        ),
        format!(
            "ALTER TABLE {t} ADD CONSTRAINT \"session_pkey\" PRIMARY KEY (\"sid\") \
             NOT DEFERRABLE INITIALLY IMMEDIATE"
        ),
        format!("CREATE INDEX \"IDX_session_expire\" ON {t} (\"expire\")"),
    ]
}

const NODE_SESS: &str = r#"{"cookie":{"originalMaxAge":3600000,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"user":"John Doe","views":3}"#;

fn epoch_secs(t: time::OffsetDateTime) -> f64 {
    (t.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_a_connect_pg_simple_table_both_ways() {
    let Some(url) = server() else { return };
    // connect-pg-simple's index names are not per table: use a schema of our own.
    let schema = table_name();
    let cleanup_url = url.clone();
    let cleanup_schema = schema.clone();
    let _cleanup = Cleanup::new(move || async move {
        if let Ok(pool) = PgPool::connect(&cleanup_url).await {
            let _ = sqlx::query(&format!(
                "DROP SCHEMA IF EXISTS \"{cleanup_schema}\" CASCADE"
            ))
            .execute(&pool)
            .await;
            pool.close().await;
        }
    });
    let admin = PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&admin)
        .await
        .unwrap();
    let mut conn = admin.acquire().await.unwrap();
    sqlx::query(&format!("SET search_path TO \"{schema}\""))
        .execute(&mut *conn)
        .await
        .unwrap();
    for stmt in connect_pg_simple_table_sql("session") {
        sqlx::query(&stmt).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    let t = format!("\"{schema}\".\"session\"");

    // A row Node wrote before Tessera ever ran (connect-pg-simple's `set`, with an
    // explicit ::json because sqlx sends the parameter typed as text).
    let node_id = SessionId::generate();
    let in_an_hour = testkit::now() + Duration::from_secs(3600);
    let node_set = format!(
        "INSERT INTO {t} (sess, expire, sid) SELECT $1::json, to_timestamp($2), $3 \
         ON CONFLICT (sid) DO UPDATE SET sess=$1::json, expire=to_timestamp($2) RETURNING sid"
    );
    sqlx::query(&node_set)
        .bind(NODE_SESS)
        .bind(epoch_secs(in_an_hour).ceil())
        .bind(node_id.as_str())
        .execute(&admin)
        .await
        .unwrap();

    // Tessera migrates the existing table in place.
    let store = PostgresStore::builder(&url)
        .schema(&schema)
        .table("session")
        .connect()
        .await
        .unwrap();
    store.migrate().await.expect("idempotent");
    let expire_indexes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%(expire)'",
    )
    .bind(&schema)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(
        expire_indexes, 1,
        "connect-pg-simple's expiry index is reused"
    );

    // Node → Tessera: the row loads, data and cookie intact, and can be saved.
    let got = store
        .load(&node_id)
        .await
        .unwrap()
        .expect("Node's row loads");
    assert_eq!(got.data["user"], json!("John Doe"));
    assert_eq!(got.data["views"], json!(3));
    assert_eq!(got.cookie.original_max_age, Some(3_600_000));
    assert_eq!(got.cookie.http_only, Some(true));
    assert!((got.expires_at - in_an_hour).abs() <= time::Duration::seconds(1));
    let mut next = got.clone();
    next.data.insert("views".into(), json!(4));
    assert!(matches!(
        store.save(&next).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    assert!(matches!(
        store.save(&got).await.unwrap(),
        SaveOutcome::Conflict
    ));

    // Tessera → Node: connect-pg-simple's `get` finds it and reads express's shape.
    let mut r = testkit::record(Some("42"), Duration::from_secs(600));
    r.cookie.original_max_age = Some(600_000);
    r.cookie.expires = Some(r.expires_at);
    let v = store.create(&r).await.unwrap();
    let node_get =
        format!("SELECT sess::text FROM {t} WHERE sid = $1 AND expire >= to_timestamp($2)");
    let sess: String = sqlx::query_scalar(&node_get)
        .bind(r.id.as_str())
        .bind(epoch_secs(testkit::now()))
        .fetch_one(&admin)
        .await
        .expect("Node finds Tessera's row");
    let sess: serde_json::Value = serde_json::from_str(&sess).unwrap();
    assert_eq!(sess["cookie"]["originalMaxAge"], json!(600_000));
    assert_eq!(sess["cookie"]["httpOnly"], json!(true));
    assert!(sess["cookie"]["expires"].is_string());
    assert_eq!(sess["user"], json!({"id": "7", "email": "ana@example.com"}));
    // ... and not once it has expired (Node compares with its own clock).
    let later = epoch_secs(r.expires_at) + 1.0;
    let none: Option<String> = sqlx::query_scalar(&node_get)
        .bind(r.id.as_str())
        .bind(later)
        .fetch_optional(&admin)
        .await
        .unwrap();
    assert!(none.is_none());

    // connect-pg-simple's `touch` moves Tessera's expiry without changing its version.
    let node_touch =
        format!("UPDATE {t} SET expire = to_timestamp($1) WHERE sid = $2 RETURNING sid");
    let moved = testkit::now() + Duration::from_secs(7200);
    sqlx::query(&node_touch)
        .bind(epoch_secs(moved).ceil())
        .bind(r.id.as_str())
        .execute(&admin)
        .await
        .unwrap();
    let got = store.load(&r.id).await.unwrap().unwrap();
    assert!((got.expires_at - moved).abs() <= time::Duration::seconds(1));
    assert_eq!(got.version, v);
    assert_eq!(store.list_by_user("42").await.unwrap().len(), 1);

    // Node's `destroy`, then a late Tessera save: stays gone.
    sqlx::query(&format!("DELETE FROM {t} WHERE sid = $1"))
        .bind(r.id.as_str())
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(store.save(&got).await.unwrap(), SaveOutcome::Missing);

    // Node's expired rows are invisible to Tessera and reaped by delete_expired.
    let old = SessionId::generate();
    sqlx::query(&node_set)
        .bind(NODE_SESS)
        .bind(epoch_secs(testkit::now()) - 5.0)
        .bind(old.as_str())
        .execute(&admin)
        .await
        .unwrap();
    assert!(store.load(&old).await.unwrap().is_none());
    assert!(store.delete_expired().await.unwrap() >= 1);
    admin.close().await;
}

/// connect-pg-simple's `set` (an upsert that leaves `version` alone) of `sess`.
async fn node_set(pool: &PgPool, table: &str, id: &SessionId, sess: &serde_json::Value) {
    let expire = epoch_secs(testkit::now() + Duration::from_secs(3600)).ceil();
    sqlx::query(&format!(
        "INSERT INTO \"{table}\" (sess, expire, sid) SELECT $1::json, to_timestamp($2), $3 \
         ON CONFLICT (sid) DO UPDATE SET sess=$1::json, expire=to_timestamp($2) RETURNING sid"
    ))
    .bind(sess.to_string())
    .bind(expire)
    .bind(id.as_str())
    .execute(pool)
    .await
    .unwrap();
}

/// Node reads the row (connect-pg-simple's `get`), adds `cart` and writes it back.
async fn node_adds_cart(pool: &PgPool, table: &str, id: &SessionId) {
    let sess: String = sqlx::query_scalar(&format!(
        "SELECT sess::text FROM \"{table}\" WHERE sid = $1"
    ))
    .bind(id.as_str())
    .fetch_one(pool)
    .await
    .unwrap();
    let mut sess: serde_json::Value = serde_json::from_str(&sess).unwrap();
    sess["cart"] = json!(["apple"]);
    node_set(pool, table, id, &sess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_write_since_the_load_is_a_conflict() {
    let Some(s) = fresh().await else { return };
    let (store, pool) = (&s.store, s.store.pool());

    // A Tessera-written row.
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
    let got = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(got.version, v);
    assert_eq!(
        (got.data["n"].clone(), got.data["cart"].clone()),
        (json!(1), json!(["apple"]))
    );

    // connect-pg-simple's `touch` (expire only) does not invalidate the token.
    sqlx::query(&format!(
        "UPDATE \"{}\" SET expire = to_timestamp($1) WHERE sid = $2",
        s.table
    ))
    .bind(epoch_secs(testkit::now() + Duration::from_secs(7200)).ceil())
    .bind(r.id.as_str())
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(store.load(&r.id).await.unwrap().unwrap().version, v);
    let mut next = got.clone();
    next.data.insert("n".into(), json!(2));
    assert!(matches!(
        store.save(&next).await.unwrap(),
        SaveOutcome::Saved(_)
    ));

    // A row Node created (no version) and wrote again after Tessera loaded it.
    let node_id = SessionId::generate();
    node_set(
        pool,
        &s.table,
        &node_id,
        &serde_json::from_str(NODE_SESS).unwrap(),
    )
    .await;
    let loaded = store.load(&node_id).await.unwrap().unwrap();
    node_adds_cart(pool, &s.table, &node_id).await;
    assert_eq!(store.save(&loaded).await.unwrap(), SaveOutcome::Conflict);
    let fresh = store.load(&node_id).await.unwrap().unwrap();
    assert!(matches!(
        store.save(&fresh).await.unwrap(),
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
