//! connect-redis interop: a value captured from real connect-redis loads with the same
//! fields, what Tessera writes parses back with the same fields in express-session's
//! shape, and a key without a TTL (connect-redis `disableTTL`) loads too.

mod common;

use axum::http::StatusCode;
use common::*;
use redis::AsyncCommands;
use serde_json::{Value, json};
use std::time::Duration;
use tessera::{SaveOutcome, SessionId, SessionStore};
use time::macros::datetime;

struct Fixture {
    id: SessionId,
    ttl: u64,
    value: String,
}

fn fixture() -> Fixture {
    let f: Value = serde_json::from_str(include_str!("fixtures/connect-redis.json")).unwrap();
    Fixture {
        id: SessionId::parse(f["id"].as_str().unwrap()).unwrap(),
        ttl: f["ttl_seconds"].as_u64().unwrap(),
        value: f["value"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_redis_session_loads_and_tessera_writes_it_back_in_the_same_shape() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b).await;
    let f = fixture();
    let key = fresh.store.session_key(&f.id);
    assert_eq!(
        key,
        format!("{}{}", fresh.prefix, f.id.as_str()),
        "key = <prefix><id>"
    );
    let mut c = raw(&target).await;
    // Exactly what connect-redis sends.
    let () = c.set_ex(&key, &f.value, f.ttl).await.unwrap();

    let r = fresh.store.load(&f.id).await.unwrap().expect("loads");
    assert_eq!(r.cookie.original_max_age, Some(86_400_000));
    assert_eq!(
        r.cookie.expires,
        Some(datetime!(2026-11-23 10:44:48.157 UTC))
    );
    assert_eq!(r.cookie.http_only, Some(true));
    assert_eq!(r.cookie.path.as_deref(), Some("/"));
    assert_eq!(r.data.get("user"), Some(&json!("John Doe")));
    assert_eq!(r.user, None);
    let left = r.expires_at - tessera::testkit::now();
    assert!(
        (left - time::Duration::seconds(f.ttl as i64)).abs() < time::Duration::seconds(2),
        "expires_at follows the key's TTL: {left}"
    );

    // Tessera changes it; Node reads back the same fields plus the new one.
    let mut w = r.clone();
    w.data.insert("n".into(), json!(1));
    assert!(matches!(
        fresh.store.save(&w).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    let stored: String = c.get(&key).await.unwrap();
    let v: Value = serde_json::from_str(&stored).unwrap();
    let original: Value = serde_json::from_str(&f.value).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["cookie", "user", "n", "__tessera"],
        "express-session's order"
    );
    assert_eq!(v["cookie"], original["cookie"], "cookie object unchanged");
    assert_eq!(v["user"], original["user"]);
    let ttl: i64 = c.ttl(&key).await.unwrap();
    assert!(ttl > 86_000 && ttl <= 86_400, "TTL kept: {ttl}");
    fresh.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_session_is_served_by_the_layer_under_express_settings() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b).await;
    let f = fixture();
    let mut c = raw(&target).await;
    let () = c
        .set_ex(fresh.store.session_key(&f.id), &f.value, f.ttl)
        .await
        .unwrap();
    let config = config().cookie_name("connect.sid").build().unwrap();
    let cookie = format!("connect.sid={}", config.sign(&f.id));
    let app = app(fresh.store.clone(), config);
    let r = send(&app, "/read", Some(&cookie)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "John Doe"));
    fresh.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_ttl_loads_with_the_default_ttl_and_a_touch_sets_one() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b.default_ttl(Duration::from_secs(600))).await;
    let f = fixture();
    let key = fresh.store.session_key(&f.id);
    let mut c = raw(&target).await;
    let () = c.set(&key, &f.value).await.unwrap();
    let r = fresh.store.load(&f.id).await.unwrap().expect("loads");
    let left = r.expires_at - tessera::testkit::now();
    assert!((left - time::Duration::seconds(600)).abs() < time::Duration::seconds(2));
    assert!(
        fresh
            .store
            .touch(&f.id, tessera::testkit::now() + Duration::from_secs(60))
            .await
            .unwrap()
    );
    let ttl: i64 = c.ttl(&key).await.unwrap();
    assert!((50..=60).contains(&ttl), "{ttl}");
    fresh.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_by_node_between_load_and_save_is_a_conflict() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b).await;
    let f = fixture();
    let key = fresh.store.session_key(&f.id);
    let mut c = raw(&target).await;
    let () = c.set_ex(&key, &f.value, f.ttl).await.unwrap();
    let loaded = fresh.store.load(&f.id).await.unwrap().unwrap();
    // Node rewrites the session (a plain SET, as connect-redis does).
    let node_write = f.value.replace("John Doe", "Jane Roe");
    let () = c.set_ex(&key, &node_write, f.ttl).await.unwrap();
    let mut mine = loaded.clone();
    mine.data.insert("n".into(), json!(1));
    assert_eq!(
        fresh.store.save(&mine).await.unwrap(),
        SaveOutcome::Conflict
    );
    let stored: String = c.get(&key).await.unwrap();
    assert_eq!(stored, node_write, "Node's write is kept");
    fresh.cleanup().await;
}
