//! The store behind a real `tessera::SessionLayer`: Redis commands per request (from
//! `INFO commandstats` of a private redis-server) and behaviour during an outage (fast
//! 503s, also concurrent). The shared layer checks (no lost updates across two layers on
//! Redis and the cluster, foreign writes, lazy loading, no resurrection) are in
//! `layer_kit.rs`.

mod common;

use axum::http::StatusCode;
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tessera_redis::RedisStore;

/// Calls per command in `INFO commandstats`, without our own `CONFIG`/`INFO`.
async fn commandstats(c: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, stats)) = rest.split_once(':') else {
            continue;
        };
        if name.starts_with("config") || name == "info" {
            continue;
        }
        let calls = stats
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        out.insert(name.to_owned(), calls);
    }
    out
}

async fn measure(
    c: &mut redis::aio::MultiplexedConnection,
    app: &axum::Router,
    path: &str,
    cookie: Option<&str>,
    label: &str,
) -> (Resp, BTreeMap<String, u64>) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(c)
        .await
        .unwrap();
    let r = send(app, path, cookie).await;
    let stats = commandstats(c).await;
    eprintln!("{path:<6} {label:<34} {:>3}  {stats:?}", r.status.as_u16());
    (r, stats)
}

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_commands_per_request() {
    let Some(server) = Server::start().await else {
        return;
    };
    let store = RedisStore::connect(&server.url()).await.unwrap();
    let app = app(
        store,
        config()
            .touch_after(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let mut c = server.conn().await;

    let (login, stats) = measure(&mut c, &app, "/login", None, "create").await;
    assert_eq!(stats, calls(&[("set", 1)]), "create = SET … PX … NX");
    let cookie = login.set_cookie.expect("session cookie");
    let cookie = Some(cookie.as_str());
    // The first save loads the script into the server (EVALSHA → NOSCRIPT → SCRIPT LOAD).
    assert_eq!(send(&app, "/incr", cookie).await.status, StatusCode::OK);

    let (r, stats) = measure(&mut c, &app, "/none", cookie, "session untouched").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        stats,
        calls(&[]),
        "a request that never touches its session: 0 commands"
    );

    let (r, stats) = measure(&mut c, &app, "/read", cookie, "read inside touch_after").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "bench"));
    assert_eq!(
        stats,
        calls(&[("get", 1)]),
        "read inside touch_after: one GET"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (r, stats) = measure(&mut c, &app, "/read", cookie, "read after touch_after").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        stats,
        calls(&[("get", 1), ("pexpire", 1)]),
        "read after touch_after: load + PEXPIRE (2 round trips)"
    );

    // The store remembers the expiry it just set, so the next read does not touch again.
    let (_, stats) = measure(&mut c, &app, "/read", cookie, "read right after the touch").await;
    assert_eq!(stats, calls(&[("get", 1)]), "no repeated touch");

    let (r, stats) = measure(&mut c, &app, "/incr", cookie, "modify").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "2"));
    // Top level: GET, then one EVALSHA. Redis also counts the GET and SET the script
    // runs inside EVALSHA.
    assert_eq!(
        stats,
        calls(&[("get", 2), ("evalsha", 1), ("set", 1)]),
        "modify: load + EVALSHA (2 round trips)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_answers_503_fast_and_recovers_without_restarting_the_app() {
    let Some(mut server) = Server::start().await else {
        return;
    };
    let store = RedisStore::builder()
        .url(server.url())
        .command_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let app = app(store, config().build().unwrap());
    let login = send(&app, "/login", None).await;
    let cookie = login.set_cookie.expect("session cookie");
    let cookie = Some(cookie.as_str());
    assert_eq!(send(&app, "/incr", cookie).await.body, "1");

    server.kill();
    for path in ["/read", "/incr", "/read", "/login"] {
        let started = Instant::now();
        let r = send(&app, path, if path == "/login" { None } else { cookie }).await;
        let took = started.elapsed();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {r:?}");
        assert!(took < Duration::from_secs(2), "{path} took {took:?}");
    }
    // Concurrent requests during the outage: all fail fast, none panics.
    let started = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            let cookie = cookie.map(str::to_owned);
            tokio::spawn(async move { send(&app, "/read", cookie.as_deref()).await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // Requests that do not use the session are unaffected.
    let started = Instant::now();
    let r = send(&app, "/none", cookie).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "none"));
    assert!(started.elapsed() < Duration::from_millis(200));

    // Back up (the append-only file kept the session): the same app recovers on its own.
    server.restart().await;
    let recovered = tessera::testkit::eventually(Duration::from_secs(5), || async {
        send(&app, "/read", cookie).await.status == StatusCode::OK
    })
    .await;
    assert!(recovered, "requests must succeed again after Redis is back");
    assert_eq!(send(&app, "/incr", cookie).await.body, "2");
}
