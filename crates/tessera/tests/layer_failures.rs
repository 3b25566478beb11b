//! Store failures: 503 with a clear message, never a success whose data was not stored.

mod common;

use common::*;
use http::StatusCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tessera::StoreFailure;

#[tokio::test]
async fn failed_load_answers_503_even_if_the_handler_ignores_the_error() {
    let store = Counting::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    c.req("POST", "/set/a/1").await;
    store.fail.store(true, Ordering::SeqCst);
    for path in ["/get/a", "/read-ignore-error"] {
        let r = c.req("GET", path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        // A handler's error renders its message; a response the layer replaced carries it
        // as an extension, for an outer layer to render.
        let message = r
            .failure
            .map(|f| f.message.to_owned())
            .unwrap_or(r.body.clone());
        assert!(
            message.contains("session store could not be reached"),
            "{path}: {message}"
        );
        assert_eq!(r.headers.get("retry-after").unwrap(), "1");
        assert!(r.set_cookies.is_empty());
    }
    // Routes that do not need the session are unaffected.
    assert_eq!(c.req("GET", "/none").await.status, StatusCode::OK);
    store.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        c.req("GET", "/get/a").await.body,
        "\"1\"",
        "recovers when the store is back"
    );
}

#[tokio::test]
async fn handler_decides_policy_lets_a_handler_degrade() {
    let store = Counting::default();
    let cfg = config()
        .on_store_failure(StoreFailure::HandlerDecides)
        .build()
        .unwrap();
    let mut c = Client::new(app(store.clone(), cfg));
    c.req("POST", "/set/a/1").await;
    store.fail.store(true, Ordering::SeqCst);
    assert_eq!(
        c.req("GET", "/read-ignore-error").await.status,
        StatusCode::OK
    );
    assert_eq!(
        c.req("GET", "/get/a").await.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the handler propagated the error"
    );
}

#[tokio::test]
async fn failed_write_answers_503_and_nothing_is_claimed_saved() {
    let store = Counting::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    c.req("POST", "/set/a/1").await;
    store.fail_writes.store(true, Ordering::SeqCst);
    let r = c.req("POST", "/set/a/2").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(r.body, "ok", "the handler's success body is not sent");
    let r = c.req("POST", "/login/eve").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.set_cookies.is_empty(),
        "no cookie for a session that was not created"
    );
    store.fail_writes.store(false, Ordering::SeqCst);
    assert_eq!(c.req("GET", "/get/a").await.body, "\"1\"", "old value kept");
    assert_eq!(
        c.req("GET", "/whoami").await.body,
        "",
        "login did not happen"
    );
    // A new visitor whose first write fails gets 503 and no cookie.
    store.fail_writes.store(true, Ordering::SeqCst);
    let r = send(&c.app, "POST", "/set/a/1", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.set_cookies.is_empty());
}

#[tokio::test]
async fn a_hanging_store_answers_503_within_the_timeout() {
    let store = Counting::default();
    let cfg = config()
        .store_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut c = Client::new(app(store.clone(), cfg));
    c.req("POST", "/set/a/1").await;
    store.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let r = c.req("GET", "/get/a").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn reserved_keys_are_rejected() {
    let app = app(tessera::MemoryStore::default(), config().build().unwrap());
    let r = send(&app, "POST", "/set/cookie/x", None).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.set_cookies.is_empty());
}
