//! The store behind `tessera::SessionLayer`: the core's shared layer checks
//! (`tessera::layer_tests!`: two app instances on one collection, foreign writes, lazy
//! loading, no resurrection, an outage through a cuttable proxy), connect-mongo writes
//! during a request, TTL removal by the server, and 503 (fast, no panic) when the server
//! cannot be reached.

mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::*;
use std::time::{Duration, Instant};
use tessera::{Session, SessionConfig, SessionLayer, SessionStore};
use tessera_mongo::MongoStore;
use tessera_mongo::mongodb::bson::doc;

fn app(store: MongoStore) -> Router {
    let config = SessionConfig::builder().secret(SECRET).build().unwrap();
    Router::new()
        .route(
            "/start",
            post(|s: Session| async move {
                s.insert("n", 0_u64).await?;
                Ok::<_, tessera::Error>("ok")
            }),
        )
        .route(
            "/incr",
            post(|s: Session| async move {
                let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
                Ok::<_, tessera::Error>(n.to_string())
            }),
        )
        .route(
            "/n",
            get(|s: Session| async move {
                let n: Option<u64> = s.get("n").await?;
                Ok::<_, tessera::Error>(n.map(|n| n.to_string()).unwrap_or_default())
            }),
        )
        .layer(SessionLayer::new(store, config))
}

/// A connect-mongo `set` lands while a Tessera request that loaded the session is still
/// running: the request's save conflicts, reloads, replays its change, and both survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_mongo_write_during_a_request_survives_its_save() {
    let Some(uri) = mongo_uri() else {
        return;
    };
    let name = unique("node_race_layer");
    let store = builder(&uri, &name).build().await.unwrap();
    let raw = store.collection().clone();
    let config = SessionConfig::builder().secret(SECRET).build().unwrap();
    let race = Router::new()
        .route(
            "/race",
            post(move |s: Session| {
                let raw = raw.clone();
                async move {
                    let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
                    // Node: read the session, add a cart, `$set` it back (upsert).
                    let id = s.id().await?;
                    let d = raw.find_one(doc! {"_id": id.as_str()}).await.unwrap().unwrap();
                    let mut v: serde_json::Value =
                        serde_json::from_str(d.get_str("session").unwrap()).unwrap();
                    v["cart"] = serde_json::json!(["apple"]);
                    raw.update_one(
                        doc! {"_id": id.as_str()},
                        doc! {"$set": {"session": v.to_string(), "expires": d.get_datetime("expires").unwrap()}},
                    )
                    .upsert(true)
                    .await
                    .unwrap();
                    Ok::<_, tessera::Error>(n.to_string())
                }
            }),
        )
        .layer(SessionLayer::new(store.clone(), config));
    let plain = app(store.clone());
    let start = send(&plain, "POST", "/start", None).await;
    let cookie = start.set_cookie.expect("session cookie");
    let r = send(&race, "POST", "/race", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(send(&plain, "GET", "/n", Some(&cookie)).await.body, "1");
    let d = store.collection().find_one(doc! {}).await.unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(d.get_str("session").unwrap()).unwrap();
    assert_eq!(
        v["cart"],
        serde_json::json!(["apple"]),
        "Node's write is kept"
    );
    assert_eq!(v["n"], serde_json::json!(1), "Tessera's write is kept");
    store.collection().drop().await.unwrap();
}

/// The core's layer kit on a fresh collection, through a cuttable proxy in front of the
/// server (the outage check cuts it); every handle is a client of its own.
async fn kit() -> Option<tessera::testkit::layer::Kit> {
    let uri = mongo_uri()?;
    let name = unique("kit");
    let after_scheme = uri.split("://").nth(1).unwrap_or(&uri);
    let authority = after_scheme.rsplit('@').next().unwrap_or(after_scheme);
    let upstream = authority
        .split(['/', '?'])
        .next()
        .unwrap_or("127.0.0.1:27017");
    let proxy = std::sync::Arc::new(
        tessera::testkit::proxy::TcpCut::start(upstream)
            .await
            .expect("start proxy"),
    );
    let proxied = uri.replacen(upstream, &format!("127.0.0.1:{}", proxy.port()), 1);
    let cleanup = builder(&uri, &name)
        .create_indexes(false)
        .build()
        .await
        .expect("store");
    Some(
        tessera::testkit::layer::Kit::new(move || {
            let (uri, name) = (proxied.clone(), name.clone());
            async move {
                tessera::BoxedStore::new(
                    builder(&uri, &name)
                        .server_selection_timeout(Duration::from_millis(1500))
                        .build()
                        .await
                        .expect("build store"),
                )
            }
        })
        .outage(proxy)
        .cleanup(async move {
            let _ = cleanup.collection().drop().await;
        }),
    )
}

mod kit {
    tessera::layer_tests!(super::kit(); outage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_removes_expired_documents_via_the_ttl_index() {
    let Some(fresh) = fresh("ttl").await else {
        return;
    };
    let short = tessera::testkit::record(None, Duration::from_millis(500));
    let long = tessera::testkit::record(None, Duration::from_secs(3600));
    fresh.store.create(&short).await.unwrap();
    fresh.store.create(&long).await.unwrap();
    let raw = fresh.raw();
    // Poll the raw collection (loads already hide expired documents); the server's TTL
    // monitor must delete the document itself. SecantusDB in CI sweeps every second;
    // mongod every 60 s, so allow MONGO_TTL_WAIT_SECS to raise the limit.
    let limit = std::env::var("MONGO_TTL_WAIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let removed = tessera::testkit::eventually(Duration::from_secs(limit), || async {
        raw.count_documents(doc! {"_id": short.id.as_str()})
            .await
            .unwrap()
            == 0
    })
    .await;
    assert!(
        removed,
        "TTL monitor did not remove the expired document within {limit} s"
    );
    assert_eq!(
        raw.count_documents(doc! {"_id": long.id.as_str()})
            .await
            .unwrap(),
        1,
        "the live document is kept"
    );
    fresh.drop_collection().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_answers_503_within_the_timeout() {
    // A loopback port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let selection = Duration::from_millis(600);
    let store = MongoStore::builder()
        .uri(format!("mongodb://127.0.0.1:{port}/?directConnection=true"))
        .server_selection_timeout(selection)
        .create_indexes(false)
        .build()
        .await
        .expect("building without index creation does no I/O");
    // Direct store calls fail with a typed error, quickly.
    let t0 = Instant::now();
    let err = store
        .load(&tessera::SessionId::generate())
        .await
        .expect_err("unreachable");
    assert!(
        matches!(
            err,
            tessera::StoreError::Unavailable(_) | tessera::StoreError::Timeout(_)
        ),
        "{err:?}"
    );
    assert!(
        t0.elapsed() < selection + Duration::from_secs(2),
        "{:?}",
        t0.elapsed()
    );

    // Through the layer: a request that writes a new session, and one with a cookie.
    let app = app(store);
    let t0 = Instant::now();
    let r = send(&app, "POST", "/start", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert!(
        r.set_cookie.is_none(),
        "no cookie for a session that was not stored"
    );
    let config = SessionConfig::builder().secret(SECRET).build().unwrap();
    let cookie = format!("id={}", config.sign(&tessera::SessionId::generate()));
    let r = send(&app, "POST", "/incr", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert!(
        t0.elapsed() < 2 * selection + Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );

    // Index creation at start-up reports the outage as a build error, also quickly.
    let t0 = Instant::now();
    let built = MongoStore::builder()
        .uri(format!("mongodb://127.0.0.1:{port}/"))
        .server_selection_timeout(selection)
        .build()
        .await;
    assert!(
        matches!(built, Err(tessera_mongo::BuildError::Indexes(_))),
        "{built:?}"
    );
    assert!(t0.elapsed() < selection + Duration::from_secs(2));
}
