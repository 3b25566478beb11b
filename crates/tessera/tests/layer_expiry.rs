//! Idle and absolute expiry and touch throttling, on tokio's paused clock.

mod common;

use common::*;
use http::StatusCode;
use std::time::Duration;
use tessera::{Clock, MemoryStore, SessionStore};
use tokio::time::advance;

const MIN: Duration = Duration::from_secs(60);

fn setup(cfg: tessera::SessionConfigBuilder) -> (Counting, Client) {
    let clock = Clock::tokio();
    let store = Counting::with(MemoryStore::builder().clock(clock).build());
    let app = app(store.clone(), cfg.clock(clock).build().unwrap());
    (store, Client::new(app))
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_slides_with_activity_and_ends_an_idle_session() {
    let (store, mut c) = setup(config().idle_timeout(15 * MIN));
    c.req("POST", "/set/a/1").await;
    for _ in 0..6 {
        advance(10 * MIN).await;
        assert_eq!(
            c.req("GET", "/get/a").await.body,
            "\"1\"",
            "activity every 10 min keeps a 15 min idle session alive"
        );
    }
    advance(15 * MIN + Duration::from_secs(1)).await;
    let r = c.req("GET", "/get/a").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "idle for 15 min: gone");
    assert!(r.set_cookies.is_empty());
    assert_eq!(
        store.inner.len(),
        0,
        "the expired record is deleted on load"
    );
}

#[tokio::test(start_paused = true)]
async fn touches_are_throttled_by_touch_after() {
    let (store, mut c) = setup(config().idle_timeout(30 * MIN).touch_after(5 * MIN));
    c.req("POST", "/set/a/1").await;
    for _ in 0..4 {
        advance(MIN).await;
        c.req("GET", "/get/a").await;
    }
    assert_eq!(
        store.counts.get(&store.counts.touch),
        0,
        "reads inside touch_after cost no write"
    );
    advance(2 * MIN).await;
    c.req("GET", "/get/a").await;
    assert_eq!(
        store.counts.get(&store.counts.touch),
        1,
        "first read after touch_after touches once"
    );
    c.req("GET", "/get/a").await;
    assert_eq!(
        store.counts.get(&store.counts.touch),
        1,
        "and the interval restarts"
    );
    assert_eq!(
        store.counts.get(&store.counts.save),
        0,
        "a touch never rewrites the data"
    );
}

#[tokio::test(start_paused = true)]
async fn explicit_touch_ignores_the_throttle() {
    let (store, mut c) = setup(config().idle_timeout(30 * MIN).touch_after(5 * MIN));
    c.req("POST", "/set/a/1").await;
    advance(Duration::from_secs(10)).await;
    c.req("POST", "/touch").await;
    assert_eq!(store.counts.get(&store.counts.touch), 1);
}

#[tokio::test(start_paused = true)]
async fn absolute_timeout_never_slides() {
    let (store, mut c) = setup(config().idle_timeout(15 * MIN).absolute_timeout(60 * MIN));
    c.req("POST", "/set/a/1").await;
    for _ in 0..5 {
        advance(10 * MIN).await;
        assert_eq!(c.req("GET", "/get/a").await.status, StatusCode::OK);
        assert_eq!(c.req("POST", "/incr").await.status, StatusCode::OK);
    }
    let id = id_of(c.cookie.as_ref().unwrap());
    let rec = store.inner.load(&id).await.unwrap().unwrap();
    assert_eq!(
        rec.expires_at,
        rec.created_at + 60 * MIN,
        "the store TTL is capped at the absolute deadline"
    );
    advance(10 * MIN).await;
    assert_eq!(
        c.req("GET", "/get/a").await.status,
        StatusCode::NOT_FOUND,
        "60 min after creation: gone despite activity"
    );
}

#[tokio::test(start_paused = true)]
async fn persistent_session_slides_by_its_max_age_and_cookie_follows_the_store() {
    let (store, mut c) = setup(config().idle_timeout(15 * MIN).touch_after(MIN));
    c.req("POST", "/set/a/1").await;
    c.req("POST", "/remember").await;
    advance(20 * MIN).await;
    let r = c.req("GET", "/get/a").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "remember-me sessions are not subject to the idle timeout"
    );
    let cookie = r
        .cookie()
        .expect("a touch of a persistent session re-sends its cookie with the new expiry");
    let id = id_of(c.cookie.as_ref().unwrap());
    let rec = store.inner.load(&id).await.unwrap().unwrap();
    assert!(
        cookie.contains(&format!(
            "Expires={}",
            rec.expires_at
                .format(time::macros::format_description!(
                    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
                ))
                .unwrap()
        )),
        "{cookie}"
    );
}
