//! Cookie transport through the layer: signing, verification, attributes, lazy loading.

mod common;

use common::*;
use http::StatusCode;
use std::time::Duration;
use tessera::{
    MemoryStore, Priority, Record, SameSite, Secure, SessionConfig, SessionId, SessionStore,
};

#[tokio::test]
async fn untouched_session_costs_nothing_and_sends_no_cookie() {
    let store = Counting::default();
    let app = app(store.clone(), config().build().unwrap());
    let r = send(&app, "GET", "/none", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.set_cookies.is_empty());
    // Logged-in client hitting a route that ignores the session: still zero store calls.
    let mut c = Client::new(app.clone());
    c.req("POST", "/set/a/1").await;
    let before = store.counts.total();
    let r = c.req("GET", "/none").await;
    assert!(r.set_cookies.is_empty());
    assert_eq!(
        store.counts.total(),
        before,
        "a route that never uses the session must not touch the store"
    );
    // Reading costs exactly one load.
    let r = c.req("GET", "/get/a").await;
    assert_eq!(r.body, "\"1\"");
    assert_eq!(store.counts.total(), before + 1);
    assert_eq!(store.counts.get(&store.counts.load), 1);
}

#[tokio::test]
async fn reading_a_new_session_stores_nothing() {
    let store = Counting::default();
    let app = app(store.clone(), config().build().unwrap());
    let r = send(&app, "GET", "/get/x", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.set_cookies.is_empty(),
        "saveUninitialized=false: no cookie for an unmodified new session"
    );
    assert_eq!(
        store.counts.total(),
        0,
        "no cookie: nothing to load, nothing to write"
    );
    assert_eq!(store.inner.len(), 0);
}

#[tokio::test]
async fn tampered_unsigned_and_garbage_cookies_cause_no_store_call() {
    let store = Counting::default();
    let app = app(store.clone(), config().build().unwrap());
    let mut c = Client::new(app.clone());
    c.req("POST", "/set/k/v").await;
    let good = c.cookie.clone().unwrap();
    let id = id_of(&good);
    let (name, value) = good.split_once('=').unwrap();
    let garbage = format!("id={}", "x".repeat(10_000));
    // Another last character (a random signature ends in 'A' one time in sixteen).
    let last = if value.ends_with('A') { 'E' } else { 'A' };
    let tampered_sig = format!("{name}={}{last}", &value[..value.len() - 1]);
    assert_ne!(tampered_sig, good);
    let unsigned = format!("id={}", id.as_str());
    let other_secret = format!(
        "id={}",
        SessionConfig::builder()
            .secret(OLD_SECRET)
            .build()
            .unwrap()
            .sign(&id)
    );
    let loads = store.counts.get(&store.counts.load);
    for bad in [
        tampered_sig,
        unsigned,
        other_secret,
        garbage,
        "id=s%3A".into(),
        "id=%ZZ".into(),
    ] {
        let r = send(&app, "GET", "/get/k", Some(&bad)).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{bad:.40}: must look like a fresh session"
        );
        assert!(r.set_cookies.is_empty(), "no cookie unless written");
        // Writing with a bad cookie creates a brand-new session, never adopts the id.
        let w = send(&app, "POST", "/set/k/attacker", Some(&bad)).await;
        assert_eq!(w.status, StatusCode::OK);
        let new_id = id_of(&pair(w.cookie().expect("a new session is created")));
        assert_ne!(new_id, id);
    }
    assert_eq!(
        store.counts.get(&store.counts.load),
        loads,
        "unverifiable cookies never reach the store"
    );
    // The genuine session is untouched.
    assert_eq!(send(&app, "GET", "/get/k", Some(&good)).await.body, "\"v\"");
}

#[tokio::test]
async fn cookie_for_unknown_id_gets_a_fresh_random_id() {
    let store = MemoryStore::default();
    let cfg = config().build().unwrap();
    let planted = SessionId::parse("attacker-chosen-id").unwrap();
    let cookie = format!("id={}", cfg.sign(&planted));
    let app = app(store.clone(), cfg);
    let r = send(&app, "POST", "/set/a/1", Some(&cookie)).await;
    let id = id_of(&pair(r.cookie().unwrap()));
    assert_ne!(id, planted, "an unknown id is never adopted");
    assert!(store.load(&planted).await.unwrap().is_none());
}

#[tokio::test]
async fn default_attributes_are_httponly_lax_path_and_browser_session() {
    let app = app(MemoryStore::default(), config().build().unwrap());
    let r = send(&app, "POST", "/set/a/1", None).await;
    let c = r.cookie().unwrap();
    assert!(c.starts_with("id=s%3A"), "{c}");
    assert!(c.ends_with("; Path=/; HttpOnly; SameSite=Lax"), "{c}");
    assert!(
        !c.contains("Expires") && !c.contains("Max-Age"),
        "browser-session cookie by default: {c}"
    );
    assert!(!c.contains("Secure"));
    assert_eq!(r.headers.get("vary").unwrap(), "Cookie");
}

#[tokio::test]
async fn every_attribute_from_config() {
    let cfg = config()
        .cookie_name("sid")
        .domain("example.com")
        .path("/app")
        .secure(Secure::Always)
        .same_site(SameSite::Strict)
        .partitioned(true)
        .priority(Priority::High)
        .max_age(Duration::from_secs(3600))
        .http_only(false)
        .build()
        .unwrap();
    let app = tessera_routes_under_app(cfg);
    let r = send(&app, "POST", "/app/set/a/1", None).await;
    let c = r.cookie().unwrap();
    assert!(c.starts_with("sid=s%3A"), "{c}");
    assert!(
        c.contains("; Domain=example.com; Path=/app; Expires="),
        "{c}"
    );
    assert!(
        c.contains("; Max-Age=3600;") || c.contains("; Max-Age=3599;"),
        "{c}"
    );
    assert!(
        c.ends_with("; Secure; Partitioned; Priority=High; SameSite=Strict"),
        "{c}"
    );
    assert!(!c.contains("HttpOnly"), "{c}");
    // Outside the cookie path there is no session (as in express).
    let outside = send(&app, "GET", "/other", None).await;
    assert_eq!(
        outside.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "extractor reports the missing layer"
    );
}

fn tessera_routes_under_app(cfg: SessionConfig) -> axum::Router {
    axum::Router::new()
        .nest("/app", routes())
        .route(
            "/other",
            axum::routing::get(|_s: tessera::Session| async { "x" }),
        )
        .layer(tessera::SessionLayer::new(MemoryStore::default(), cfg))
}

#[tokio::test]
async fn secure_auto_follows_trusted_forwarded_proto_only() {
    let trusted = app(
        MemoryStore::default(),
        config()
            .secure(Secure::Auto)
            .trust_proxy(true)
            .build()
            .unwrap(),
    );
    let https = [("x-forwarded-proto", "https,http")];
    let r = send_with(&trusted, "POST", "/set/a/1", None, &https).await;
    assert!(
        r.cookie().unwrap().contains("; Secure"),
        "trusted proxy says https"
    );
    let r = send(&trusted, "POST", "/set/a/1", None).await;
    assert!(!r.cookie().unwrap().contains("Secure"), "plain http");
    let untrusted = app(
        MemoryStore::default(),
        config().secure(Secure::Auto).build().unwrap(),
    );
    let r = send_with(&untrusted, "POST", "/set/a/1", None, &https).await;
    assert!(
        !r.cookie().unwrap().contains("Secure"),
        "X-Forwarded-Proto is ignored without trust_proxy"
    );
}

#[tokio::test]
async fn same_site_none_forces_secure() {
    let app = app(
        MemoryStore::default(),
        config().same_site(SameSite::None).build().unwrap(),
    );
    let c = send(&app, "POST", "/set/a/1", None)
        .await
        .set_cookies
        .remove(0);
    assert!(c.ends_with("; HttpOnly; Secure; SameSite=None"), "{c}");
}

#[tokio::test]
async fn reads_a_session_written_by_express_session() {
    // The exact record connect-redis stores (research §2.6), and the cookie express sent.
    let store = MemoryStore::default();
    let id = SessionId::parse("WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS").unwrap();
    let now = tessera::Clock::System.now();
    let json = r#"{"cookie":{"originalMaxAge":86400000,"expires":"2099-11-23T10:44:48.157Z","httpOnly":true,"path":"/"},"user":"John Doe"}"#;
    let rec = Record::from_json(
        id.clone(),
        json,
        tessera::StoredMeta::new(now + Duration::from_secs(86400), 0).read_at(now),
    )
    .unwrap();
    store.create(&rec).await.unwrap();
    let cfg = SessionConfig::express_compat()
        .secret("keyboard cat".repeat(3))
        .build()
        .unwrap();
    let cookie = format!("connect.sid={}", cfg.sign(&id));
    let app = app(store, cfg);
    let r = send(&app, "GET", "/get/user", Some(&cookie)).await;
    assert_eq!(r.body, "\"John Doe\"");
}

#[tokio::test]
async fn rotation_accepts_old_secret_and_resigns_with_new() {
    let store = MemoryStore::default();
    let old_app = app(
        store.clone(),
        SessionConfig::builder().secret(OLD_SECRET).build().unwrap(),
    );
    let mut c = Client::new(old_app);
    c.req("POST", "/set/a/1").await;
    let old_cookie = c.cookie.clone().unwrap();
    let rotated = app(
        store.clone(),
        SessionConfig::builder()
            .secrets([SECRET, OLD_SECRET])
            .build()
            .unwrap(),
    );
    let r = send(&rotated, "GET", "/get/a", Some(&old_cookie)).await;
    assert_eq!(
        r.body, "\"1\"",
        "old-secret cookie still works during rotation"
    );
    let resigned = pair(r.cookie().expect("re-signed with the new secret"));
    assert_eq!(
        id_of(&resigned),
        id_of(&old_cookie),
        "same session, new signature"
    );
    assert_ne!(resigned, old_cookie);
    let new_only = app(
        store,
        SessionConfig::builder().secret(SECRET).build().unwrap(),
    );
    assert_eq!(
        send(&new_only, "GET", "/get/a", Some(&resigned)).await.body,
        "\"1\""
    );
    assert_eq!(
        send(&new_only, "GET", "/get/a", Some(&old_cookie))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "old secret dropped"
    );
}

#[tokio::test]
async fn header_transport_for_api_clients() {
    let cfg = config()
        .header(http::HeaderName::from_static("x-session-id"))
        .build()
        .unwrap();
    let app = app(MemoryStore::default(), cfg);
    let r = send(&app, "POST", "/set/a/1", None).await;
    let token = r
        .headers
        .get("x-session-id")
        .expect("token returned in the header")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        pair(r.cookie().unwrap()),
        format!("id={token}"),
        "header and cookie carry the same token"
    );
    let r = send_with(&app, "GET", "/get/a", None, &[("x-session-id", &token)]).await;
    assert_eq!(r.body, "\"1\"");
    assert!(
        r.headers.get("x-session-id").is_none(),
        "the token is only sent when it changes"
    );
    let header_only = config()
        .header(http::HeaderName::from_static("x-session-id"))
        .without_cookie()
        .build()
        .unwrap();
    let app = app_with(header_only);
    let r = send(&app, "POST", "/set/a/1", None).await;
    assert!(
        r.set_cookies.is_empty(),
        "header-only transport sends no cookie"
    );
    let token = r.headers["x-session-id"].to_str().unwrap().to_owned();
    // The client learns that its session ended: an empty header after a logout …
    let h = [("x-session-id", token.as_str())];
    let r = send_with(&app, "POST", "/destroy", None, &h).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["x-session-id"], "",
        "an empty token ends the client's session"
    );
    // … and whenever the token it sends names no session (expired, revoked, tampered).
    let r = send_with(&app, "GET", "/get/a", None, &h).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers["x-session-id"], "");
    let r = send_with(
        &app,
        "GET",
        "/get/a",
        None,
        &[("x-session-id", "s:forged.sig")],
    )
    .await;
    assert_eq!(r.headers["x-session-id"], "");
    // A route that never uses the session says nothing about it.
    let r = send_with(&app, "GET", "/none", None, &h).await;
    assert!(r.headers.get("x-session-id").is_none());
}

fn app_with(cfg: SessionConfig) -> axum::Router {
    app(MemoryStore::default(), cfg)
}

#[tokio::test]
async fn express_compat_rotation_does_not_resign_behind_nodes_back() {
    let store = MemoryStore::default();
    let old = SessionConfig::express_compat()
        .secret(OLD_SECRET)
        .build()
        .unwrap();
    let mut c = Client::new(app(store.clone(), old));
    c.req("POST", "/set/a/1").await;
    let old_cookie = c.cookie.clone().unwrap();
    let rotated = app(
        store,
        SessionConfig::express_compat()
            .secrets([SECRET, OLD_SECRET])
            .build()
            .unwrap(),
    );
    let r = send(&rotated, "GET", "/get/a", Some(&old_cookie)).await;
    assert_eq!(r.body, "\"1\"");
    assert!(
        r.set_cookies.is_empty(),
        "an app still on the old secret keeps accepting the cookie: {:?}",
        r.set_cookies
    );
    let r = send(&rotated, "POST", "/login/x", Some(&old_cookie)).await;
    assert!(
        r.cookie().is_some_and(|c| pair(c) != old_cookie),
        "a cookie sent anyway is signed with the new secret"
    );
}
