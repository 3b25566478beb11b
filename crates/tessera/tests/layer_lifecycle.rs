//! Session lifecycle through the layer: create, save, regenerate, cycle_id, destroy,
//! remember-me, rolling, resave, saveUninitialized, unset.

mod common;

use common::*;
use http::StatusCode;
use tessera::{MemoryStore, SessionStore, Unset};

#[tokio::test]
async fn first_write_creates_then_updates_keep_the_id() {
    let store = Counting::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    let r = c.req("POST", "/set/a/1").await;
    assert_eq!(r.set_cookies.len(), 1);
    assert_eq!(store.counts.get(&store.counts.create), 1);
    let first = c.cookie.clone().unwrap();
    let r = c.req("POST", "/set/b/2").await;
    assert!(
        r.set_cookies.is_empty(),
        "same id, browser-session cookie: no Set-Cookie (as express)"
    );
    assert_eq!(store.counts.get(&store.counts.save), 1);
    assert_eq!(c.cookie.as_deref(), Some(first.as_str()));
    assert_eq!(c.req("GET", "/get/a").await.body, "\"1\"");
    assert_eq!(c.req("GET", "/get/b").await.body, "\"2\"");
    // Setting a key to the value it has is not a write.
    let saves = store.counts.get(&store.counts.save);
    c.req("POST", "/set/b/2").await;
    assert_eq!(store.counts.get(&store.counts.save), saves);
}

#[tokio::test]
async fn cycle_id_keeps_data_under_a_new_id_and_kills_the_old_one() {
    let store = MemoryStore::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    c.req("POST", "/set/cart/apple").await;
    let before = c.cookie.clone().unwrap();
    let r = c.req("POST", "/login/alice").await;
    assert_eq!(r.status, StatusCode::OK);
    let after = c.cookie.clone().unwrap();
    assert_ne!(id_of(&before), id_of(&after), "login must change the id");
    assert_eq!(
        c.req("GET", "/get/cart").await.body,
        "\"apple\"",
        "data survives the id change"
    );
    assert_eq!(c.req("GET", "/whoami").await.body, "alice");
    let old = send(&c.app, "GET", "/get/cart", Some(&before)).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND, "the old id is dead");
    assert!(store.load(&id_of(&before)).await.unwrap().is_none());
    assert_eq!(store.list_by_user("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn cycle_id_followed_by_a_5xx_does_not_lose_the_session() {
    let store = MemoryStore::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    c.req("POST", "/set/cart/apple").await;
    let before = c.cookie.clone().unwrap();
    let r = c.req("POST", "/cycle-then-500").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        r.set_cookies.is_empty(),
        "nothing was stored, so no new cookie"
    );
    assert_eq!(c.cookie.as_deref(), Some(before.as_str()));
    assert_eq!(
        c.req("GET", "/get/cart").await.body,
        "\"apple\"",
        "old session intact"
    );
    assert_eq!(
        c.req("GET", "/get/x").await.status,
        StatusCode::NOT_FOUND,
        "the failed request's change was not saved"
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn explicit_save_before_a_5xx_is_kept_and_its_cookie_sent() {
    let store = MemoryStore::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    let r = c.req("POST", "/save-then-500").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.set_cookies.len(),
        1,
        "the explicitly saved session's cookie reaches the client"
    );
    assert_eq!(c.req("GET", "/get/saved").await.body, "true");
}

#[tokio::test]
async fn regenerate_gives_an_empty_session_under_a_new_id() {
    let store = MemoryStore::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    c.req("POST", "/set/a/1").await;
    let before = c.cookie.clone().unwrap();
    let r = c.req("POST", "/regenerate").await;
    assert_eq!(
        r.set_cookies.len(),
        1,
        "regenerate always sends the new cookie"
    );
    assert_ne!(id_of(&before), id_of(c.cookie.as_ref().unwrap()));
    assert_eq!(
        c.req("GET", "/get/a").await.status,
        StatusCode::NOT_FOUND,
        "regenerate empties the session"
    );
    assert_eq!(
        send(&c.app, "GET", "/get/a", Some(&before)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn destroy_deletes_and_clears_the_cookie_with_identical_attributes() {
    let store = Counting::default();
    let cfg = config()
        .domain("example.com")
        .path("/")
        .secure(tessera::Secure::Always)
        .build()
        .unwrap();
    let mut c = Client::new(app(store.clone(), cfg));
    let set = c.req("POST", "/set/a/1").await.set_cookies.remove(0);
    let before = c.cookie.clone().unwrap();
    let loads = store.counts.get(&store.counts.load);
    let r = c.req("POST", "/destroy").await;
    assert_eq!(
        store.counts.get(&store.counts.load),
        loads,
        "destroy without reading costs no load"
    );
    assert_eq!(store.counts.get(&store.counts.delete), 1);
    let removal = r.cookie().expect("cookie cleared");
    assert!(
        removal.starts_with(
            "id=; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"
        ),
        "{removal}"
    );
    let attrs = |s: &str| {
        s.split("; ")
            .filter(|a| {
                !a.starts_with("id=") && !a.starts_with("Expires") && !a.starts_with("Max-Age")
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        attrs(removal),
        attrs(&set),
        "same Domain/Path/Secure/HttpOnly/SameSite as the cookie it clears"
    );
    assert!(c.cookie.is_none());
    assert_eq!(
        send(&c.app, "GET", "/get/a", Some(&before)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(store.inner.len(), 0);
}

#[tokio::test]
async fn remember_me_reaches_the_browser_in_the_same_response() {
    let store = MemoryStore::default();
    let mut c = Client::new(app(store.clone(), config().build().unwrap()));
    c.req("POST", "/login/bob").await;
    let r = c.req("POST", "/remember").await;
    let cookie = r
        .cookie()
        .expect("max-age change sends Set-Cookie (express would not)");
    assert!(
        cookie.contains("; Max-Age=2592000;") || cookie.contains("; Max-Age=2591999;"),
        "{cookie}"
    );
    assert!(cookie.contains("; Expires="));
    let rec = store
        .load(&id_of(c.cookie.as_ref().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.cookie.original_max_age, Some(30 * 86_400_000));
    assert_eq!(
        rec.cookie.expires,
        Some(rec.expires_at),
        "stored cookie.expires matches the server expiry"
    );
    let days = (rec.expires_at - tessera::Clock::System.now()).whole_days();
    assert!(
        (29..=30).contains(&days),
        "store TTL follows the max age: {days}"
    );
    let r = c.req("POST", "/forget").await;
    assert!(
        !r.cookie()
            .expect("back to a browser-session cookie")
            .contains("Expires")
    );
}

#[tokio::test]
async fn rolling_sends_the_cookie_on_every_response() {
    let mut c = Client::new(app(
        MemoryStore::default(),
        config().rolling(true).build().unwrap(),
    ));
    c.req("POST", "/set/a/1").await;
    for _ in 0..2 {
        let r = c.req("GET", "/none").await;
        assert_eq!(
            r.set_cookies.len(),
            1,
            "rolling refreshes the cookie even on routes that ignore the session"
        );
    }
    let mut plain = Client::new(app(MemoryStore::default(), config().build().unwrap()));
    plain.req("POST", "/set/a/1").await;
    assert!(plain.req("GET", "/get/a").await.set_cookies.is_empty());
}

#[tokio::test]
async fn save_uninitialized_and_resave() {
    let store = Counting::default();
    let app = app(
        store.clone(),
        config()
            .save_uninitialized(true)
            .resave(true)
            .build()
            .unwrap(),
    );
    let r = send(&app, "GET", "/none", None).await;
    assert_eq!(
        r.set_cookies.len(),
        1,
        "saveUninitialized stores and sends a new empty session"
    );
    assert_eq!(store.inner.len(), 1);
    let cookie = pair(r.cookie().unwrap());
    let saves = store.counts.get(&store.counts.save);
    send(&app, "GET", "/get/a", Some(&cookie)).await;
    assert_eq!(
        store.counts.get(&store.counts.save),
        saves + 1,
        "resave writes even when unchanged"
    );
}

#[tokio::test]
async fn unset_destroy_removes_an_emptied_session() {
    let store = MemoryStore::default();
    let mut c = Client::new(app(
        store.clone(),
        config().unset(Unset::Destroy).build().unwrap(),
    ));
    c.req("POST", "/set/a/1").await;
    let r = c.req("POST", "/clear").await;
    assert!(r.cookie().unwrap().contains("Max-Age=0"), "cookie cleared");
    assert_eq!(store.len(), 0);
    let mut keep = Client::new(app(MemoryStore::default(), config().build().unwrap()));
    keep.req("POST", "/set/a/1").await;
    let r = keep.req("POST", "/clear").await;
    assert!(r.set_cookies.is_empty());
    assert_eq!(
        keep.req("GET", "/get/a").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn custom_genid_is_used() {
    let cfg = config()
        .genid(|| format!("custom-{}", tessera::SessionId::generate().as_str()))
        .build()
        .unwrap();
    let r = send(&app(MemoryStore::default(), cfg), "POST", "/set/a/1", None).await;
    assert!(
        id_of(&pair(r.cookie().unwrap()))
            .as_str()
            .starts_with("custom-")
    );
    let bad = config().genid(|| "not valid; id".into()).build().unwrap();
    let r = send(&app(MemoryStore::default(), bad), "POST", "/set/a/1", None).await;
    assert_eq!(
        id_of(&pair(r.cookie().unwrap())).as_str().len(),
        32,
        "unusable genid output falls back to a random id"
    );
}

/// `reload()`: discards this request's changes, sees other requests' writes, and says
/// `NotFound` (401) for a session that is not (or no longer) stored.
#[tokio::test]
async fn reload_discards_own_changes_and_sees_other_writes() {
    use axum::routing::post;
    use tessera::{Session, SessionLayer};
    let store = MemoryStore::default();
    let layer = SessionLayer::new(store.clone(), config().build().unwrap());
    let app = routes()
        .route(
            "/scratch-then-reload",
            post(|s: Session| async move {
                s.insert("scratch", "lost").await?;
                s.insert("a", "changed").await?;
                s.reload().await?;
                let scratch: Option<String> = s.get("scratch").await?;
                let a: Option<String> = s.get("a").await?;
                Ok::<_, tessera::Error>(format!("{scratch:?} {a:?}"))
            }),
        )
        .layer(layer);
    let mut c = Client::new(app.clone());
    c.req("POST", "/set/a/1").await;
    let r = c.req("POST", "/scratch-then-reload").await;
    assert_eq!(
        r.body, r#"None Some("1")"#,
        "the request's changes are gone"
    );
    assert_eq!(
        c.req("GET", "/get/scratch").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.req("GET", "/get/a").await.body,
        "\"1\"",
        "nothing was saved"
    );

    // Another request's write, made directly in the store, is what reload sees.
    let id = id_of(c.cookie.as_ref().unwrap());
    let mut r = store.load(&id).await.unwrap().unwrap();
    r.data.insert("a".into(), serde_json::json!("2"));
    store.save(&r).await.unwrap();
    assert_eq!(
        c.req("POST", "/scratch-then-reload").await.body,
        r#"None Some("2")"#
    );

    // A session that is not stored cannot be reloaded.
    let r = send(&app, "POST", "/scratch-then-reload", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    store.delete(&id).await.unwrap();
    assert_eq!(
        c.req("POST", "/scratch-then-reload").await.status,
        StatusCode::UNAUTHORIZED
    );
}
