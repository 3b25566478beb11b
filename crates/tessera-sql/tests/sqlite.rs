//! SQLite store on a temporary file (no server needed).
#![cfg(feature = "sqlite")]

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;
use tessera::{SessionStore, testkit};
use tessera_sql::SqliteStore;
use tessera_sql::sqlx;

/// A fresh folder under the temp dir, removed (with the database) when dropped.
fn temp_dir() -> (PathBuf, Cleanup) {
    let dir = std::env::temp_dir().join(table_name());
    let gone = dir.clone();
    let cleanup = Cleanup::new(move || async move {
        let _ = std::fs::remove_dir_all(&gone);
    });
    (dir, cleanup)
}

async fn fresh() -> Option<Owned<SqliteStore>> {
    let (dir, cleanup) = temp_dir();
    let table = table_name();
    let store = SqliteStore::builder(dir.join("sessions.db"))
        .table(&table)
        .connect()
        .await
        .expect("open and migrate");
    Some(Owned::new(store, table, cleanup))
}

mod conformance {
    tessera::conformance_tests!(super::fresh());
}

/// The layer kit on a fresh file: each handle is a pool of its own on the same file (two
/// app processes). SQLite is embedded: there is no server to lose, so no outage check.
async fn kit() -> Option<tessera::testkit::layer::Kit> {
    let owned = fresh().await?;
    let path = owned
        .store
        .pool()
        .connect_options()
        .get_filename()
        .to_owned();
    let table = owned.table.clone();
    Some(tessera::testkit::layer::Kit::new(move || {
        let _keep = &owned;
        let (path, table) = (path.clone(), table.clone());
        async move {
            tessera::BoxedStore::new(
                SqliteStore::builder(path)
                    .table(table)
                    .build()
                    .expect("build"),
            )
        }
    }))
}

mod layer {
    tessera::layer_tests!(super::kit());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_the_folder_and_uses_wal() {
    let (dir, _cleanup) = temp_dir();
    let path = dir.join("nested/deeper/sessions.db");
    let store = SqliteStore::builder(&path).connect().await.unwrap();
    assert!(path.exists());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let r = testkit::record(None, Duration::from_secs(60));
    store.create(&r).await.unwrap();
    // A second store (another process, say) on the same file sees the row.
    let other = SqliteStore::builder(&path).connect().await.unwrap();
    assert!(other.load(&r.id).await.unwrap().is_some());
    store.pool().close().await;
    other.pool().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_migrations_create_one_table() {
    let (dir, _cleanup) = temp_dir();
    let path = dir.join("s.db");
    let stores: Vec<_> = (0..8)
        .map(|_| SqliteStore::builder(&path).table("sess").build().unwrap())
        .collect();
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| tokio::spawn(async move { s.migrate().await }))
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every migration succeeds");
    }
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sess'",
    )
    .fetch_one(stores[0].pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
    let idx: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sess' AND sql IS NOT NULL",
    )
    .fetch_one(stores[0].pool())
    .await
    .unwrap();
    assert_eq!(idx, 2, "expire and user_id");
    for s in &stores {
        s.pool().close().await;
    }
}

#[tokio::test]
async fn an_unusable_folder_is_an_error_not_a_panic() {
    let (dir, _cleanup) = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::builder(file.join("sub/s.db"))
        .build()
        .unwrap_err();
    assert!(matches!(err, tessera_sql::Error::CreateDir { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_task_reaps_expired_rows() {
    let Some(s) = fresh().await else { return };
    let r = testkit::record(None, Duration::from_millis(100));
    s.store.create(&r).await.unwrap();
    let task = s.store.spawn_cleanup(Duration::from_millis(50));
    let reaped = testkit::eventually(Duration::from_secs(5), || async {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{}\"", s.table))
            .fetch_one(s.store.pool())
            .await
            .unwrap();
        n == 0
    })
    .await;
    task.abort();
    assert!(reaped, "the background task deleted the expired row");
}
