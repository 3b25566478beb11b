//! The server-rendered forms over real HTTP: CSRF tokens that need no stored session
//! (issue 11, point 2), the cart page (point 15) and the password change (point 16).

mod common;

use common::{Backend, PASSWORD, start, unique_email};
use tessera::SessionStore as _;

/// Issue 11, point 2: anonymous page views store nothing; the forms still work, and a
/// session is created only by logging in, registering or filling a cart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_visitors_store_nothing() {
    let store = tessera::MemoryStore::default();
    let srv = common::start_with_store(tessera::BoxedStore::new(store.clone())).await;
    let views: Vec<_> = (0..1000)
        .map(|i| {
            let c = srv.client();
            let path = ["/", "/login", "/register"][i % 3];
            tokio::spawn(async move { (path, c.get(path).await) })
        })
        .collect();
    for v in views {
        let (path, r) = v.await.expect("task");
        assert_eq!(r.status, 200, "{path}");
        assert!(r.session_cookie().is_none(), "{path} started a session");
        assert!(!r.csrf().is_empty(), "{path} has a form token");
    }
    assert_eq!(store.count().await.expect("count"), 0, "sessions stored");

    // The double-submit token works: a visitor registers through the page.
    let c = srv.client();
    let token = c.get("/register").await.csrf();
    let email = unique_email();
    let r = c
        .post_form(
            "/register",
            &[("email", &email), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(store.count().await.expect("count"), 1);
}

/// A signed double-submit token is bound to its nonce: another visitor's token, a token
/// without the cookie, or a changed cookie is refused (403), and refusals store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_submit_tokens_are_bound_to_their_cookie() {
    let store = tessera::MemoryStore::default();
    let srv = common::start_with_store(tessera::BoxedStore::new(store.clone())).await;
    let (a, b) = (srv.client(), srv.client());
    let token_a = a.get("/login").await.csrf();
    let token_b = b.get("/login").await.csrf();
    let nonce_a = a.cookie("csrf").expect("nonce cookie");
    assert_ne!(token_a, token_b);
    let post = |c: &common::Client, token: &str| {
        let (c, token) = (c.clone(), token.to_owned());
        async move {
            c.post_form(
                "/login",
                &[
                    ("email", "x@example.com"),
                    ("password", "y"),
                    ("csrf", &token),
                ],
            )
            .await
            .status
        }
    };
    assert_eq!(post(&b, &token_a).await, 403, "another visitor's token");
    let cookieless = srv.client();
    assert_eq!(post(&cookieless, &token_a).await, 403, "no cookie");
    let forged = srv.client();
    let mut changed = nonce_a.clone();
    changed.replace_range(..1, if changed.starts_with('A') { "B" } else { "A" });
    forged.set_cookie("csrf", &changed);
    assert_eq!(post(&forged, &token_a).await, 403, "changed cookie");
    assert_eq!(
        post(&a, &token_a).await,
        401,
        "the right pair gets to the login"
    );
    assert_eq!(store.count().await.expect("count"), 0);
}

/// Over HTTPS (here: `COOKIE_SECURE=true`) the nonce is a `__Host-` cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nonce_cookie_is_host_only_over_https() {
    let Some(srv) = start(Backend::Memory, |c| {
        c.cookie_secure = tessera::Secure::Always
    })
    .await
    else {
        return;
    };
    let r = srv.client().get("/login").await;
    let set = r.set_cookies().join("\n");
    assert!(
        set.contains("__Host-csrf=")
            && set.contains("Secure")
            && set.contains("HttpOnly")
            && set.contains("Path=/"),
        "{set}"
    );
}

/// Issue 11, point 16: changing the password ends every other session of the account,
/// gives this one a new id, and is refused with a wrong current password (403) or a short
/// new one (422); the page and the API, on every store that is available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_ends_the_other_sessions() {
    for backend in [
        Backend::Memory,
        Backend::Sqlite,
        Backend::Postgres,
        Backend::Redis,
        Backend::Mysql,
        Backend::Mongo,
    ] {
        password_change_on(backend).await;
    }
}

async fn password_change_on(backend: Backend) {
    let Some(srv) = start(backend, |_| {}).await else {
        return;
    };
    let email = unique_email();
    let (a, b, c) = (srv.client(), srv.client(), srv.client());
    a.register(&email).await;
    b.login(&email, false).await;
    assert_eq!(c.login_page(&email, PASSWORD, true).await.status, 303);

    // The page, and its refusals.
    let page = a.get("/account").await;
    assert_eq!(page.status, 200, "{backend:?}");
    assert!(page.body.contains("action=\"/account/password\""));
    let token = page.csrf();
    let post = |current: &str, new: &str, token: &str| {
        let (a, current, new, token) = (
            a.clone(),
            current.to_owned(),
            new.to_owned(),
            token.to_owned(),
        );
        async move {
            a.post_form(
                "/account/password",
                &[("current", &current), ("new", &new), ("csrf", &token)],
            )
            .await
        }
    };
    let new_password = "a much better passphrase";
    let r = post("wrong password", new_password, &token).await;
    assert_eq!(r.status, 403, "{backend:?}");
    assert!(r.body.contains("not correct"), "{}", r.body);
    let r = post(PASSWORD, "short", &token).await;
    assert_eq!(r.status, 422, "{backend:?}");
    assert_eq!(post(PASSWORD, new_password, "forged").await.status, 403);
    assert_eq!(
        b.get("/api/user").await.status,
        200,
        "refusals changed nothing"
    );

    // Success.
    let before = a.cookie("id").expect("session");
    let r = post(PASSWORD, new_password, &token).await;
    assert_eq!(r.status, 303, "{backend:?}: {}", r.body);
    assert_eq!(r.location().as_deref(), Some("/account?done=password"));
    let after = a.cookie("id").expect("session");
    assert_ne!(common::id_of(&before), common::id_of(&after), "new id");
    let done = a.get("/account?done=password").await;
    assert!(
        done.body.contains("Your password was changed"),
        "{}",
        done.body
    );
    assert_eq!(a.get("/api/user").await.status, 200, "this session stays");
    assert_eq!(
        b.get("/api/user").await.status,
        401,
        "{backend:?}: other session"
    );
    assert_eq!(
        c.get("/api/user").await.status,
        401,
        "{backend:?}: remembered one"
    );
    let old = b.clone();
    old.set_cookie("id", &before);
    assert_eq!(old.get("/api/user").await.status, 401, "the old id is dead");
    let login = |password: &str| {
        let (email, password) = (email.clone(), password.to_owned());
        let d = srv.client();
        async move {
            d.post_json(
                "/api/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await
            .status
        }
    };
    assert_eq!(login(PASSWORD).await, 401, "the old password is gone");
    assert_eq!(login(new_password).await, 200);

    // The API: 422, 403, 204, and 401 logged out.
    let api = |current: &str, new: &str| {
        let body = serde_json::json!({"current": current, "new": new});
        let a = a.clone();
        async move { a.post_json("/api/password", body).await }
    };
    assert_eq!(api(new_password, "short").await.status, 422);
    let r = api("wrong password", PASSWORD).await;
    assert_eq!(r.status, 403);
    assert!(r.json()["error"].is_string());
    assert_eq!(api(new_password, PASSWORD).await.status, 204);
    assert_eq!(login(PASSWORD).await, 200);
    let anonymous = srv.client();
    let r = anonymous
        .post_json(
            "/api/password",
            serde_json::json!({"current": PASSWORD, "new": new_password}),
        )
        .await;
    assert_eq!(r.status, 401);
}

/// Issue 11, point 16: password changes are throttled like logins: after five wrong
/// current passwords the account's attempts get 429 with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_changes_are_throttled() {
    let Some(srv) = start(Backend::Memory, |_| {}).await else {
        return;
    };
    let a = srv.client();
    a.register(&unique_email()).await;
    let body = serde_json::json!({"current": "wrong password", "new": "whatever it is"});
    for _ in 0..5 {
        assert_eq!(a.post_json("/api/password", body.clone()).await.status, 403);
    }
    let r = a.post_json("/api/password", body).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
}

/// Issue 11, point 15: the shop page. An anonymous visitor browses (nothing stored), adds
/// and removes products with CSRF-protected forms, and the cart survives registering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cart_page_works_without_javascript_and_survives_login() {
    let store = tessera::MemoryStore::default();
    let srv = common::start_with_store(tessera::BoxedStore::new(store.clone())).await;
    let c = srv.client();
    let shop = c.get("/cart").await;
    assert_eq!(shop.status, 200);
    assert!(shop.body.contains("Green tea, 100 g"), "{}", shop.body);
    assert!(shop.body.contains("Your cart is empty"));
    assert_eq!(
        store.count().await.expect("count"),
        0,
        "browsing stores nothing"
    );
    let token = shop.csrf();
    let add = |sku: &str| {
        let (c, sku, token) = (c.clone(), sku.to_owned(), token.clone());
        async move {
            c.post_form("/cart/items", &[("sku", &sku), ("csrf", &token)])
                .await
        }
    };
    let r = add("TEA-GREEN").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/cart"));
    assert!(c.cookie("id").is_some(), "the first add starts a session");
    assert_eq!(add("MUG-BLUE").await.status, 303);
    let shop = c.get("/cart").await;
    assert!(shop.body.contains("€18.50"), "total: {}", shop.body);
    assert!(shop.body.contains("action=\"/cart/items/1/remove\""));

    assert_eq!(add("NOT-SOLD").await.status, 422);
    let r = c.post_form("/cart/items", &[("sku", "TEA-GREEN")]).await;
    assert_eq!(r.status, 403, "no token");
    let r = c
        .post_form(
            "/cart/items/0/remove",
            &[("sku", "TEA-GREEN"), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        c.get("/api/cart").await.json(),
        serde_json::json!({"items": ["MUG-BLUE"]})
    );

    // Registering keeps the cart; the page now shows the account.
    let form = c.get("/register").await;
    let email = unique_email();
    let r = c
        .post_form(
            "/register",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("csrf", &form.csrf()),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shop = c.get("/cart").await;
    assert!(shop.body.contains("Blue stoneware mug"), "{}", shop.body);
    assert!(shop.body.contains(&email));
    assert!(c.get("/").await.body.contains("href=\"/cart\""));
}

/// Issue 11, point 9: one account per address however it is spelled (NFC/NFD, case,
/// fullwidth), invisible and bidi characters refused (422), and confusable lookalikes of
/// an existing account refused (409), through the API and the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookalike_accounts_are_refused() {
    let Some(srv) = start(Backend::Sqlite, |c| c.register_limit = 1000).await else {
        return;
    };
    let tag = unique_email().replace('@', ".").replace('.', "");
    let at = |local: &str| format!("{local}{tag}@example.com");
    let register = |email: String| {
        let c = srv.client();
        async move {
            let r = c
                .post_json(
                    "/api/register",
                    serde_json::json!({"email": email, "password": PASSWORD}),
                )
                .await;
            (r.status, r.body)
        }
    };
    assert_eq!(register(at("jos\u{e9}")).await.0, 201);
    for same in [at("jose\u{301}"), at("JOS\u{c9}")] {
        assert_eq!(register(same.clone()).await.0, 409, "{same:?}");
    }
    for invisible in [
        at("admin\u{200b}"),
        at("ad\u{202e}min"),
        at("\u{2066}admin"),
    ] {
        let (status, body) = register(invisible.clone()).await;
        assert_eq!(status, 422, "{invisible:?}");
        assert!(body.contains("invisible"), "{body}");
    }
    assert_eq!(register(at("ivan")).await.0, 201);
    let (status, body) = register(at("\u{456}van")).await;
    assert_eq!(status, 409, "Cyrillic і: {body}");
    assert!(body.contains("looks the same"), "{body}");
    assert_eq!(register(at("ana")).await.0, 201);
    assert_eq!(register(at("\u{ff41}na")).await.0, 409, "fullwidth a");

    // The registration page says the same.
    let c = srv.client();
    let token = c.get("/register").await.csrf();
    let email = at("\u{456}van");
    let r = c
        .post_form(
            "/register",
            &[("email", &email), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, 409);

    // Logging in with another spelling of the same address works.
    let r = srv
        .client()
        .post_json(
            "/api/login",
            serde_json::json!({"email": at("JOSE\u{301}"), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Issue 11, point 9: a user database from before the skeleton column is upgraded at
/// start (existing lookalikes are kept and logged), and new lookalikes are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_user_table_is_upgraded() {
    let dir = common::TempDir::new();
    let path = dir.path().join("users.db");
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.expect("sqlite");
        sqlx::query(
            "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL UNIQUE, \
             password_hash TEXT NOT NULL, created_at BIGINT NOT NULL)",
        )
        .execute(&pool)
        .await
        .expect("old schema");
        for (id, email) in [("a", "ivan@example.com"), ("b", "\u{456}van@example.com")] {
            sqlx::query("INSERT INTO users VALUES (?1, ?2, 'x', 0)")
                .bind(id)
                .bind(email)
                .execute(&pool)
                .await
                .expect("old row");
        }
        pool.close().await;
    }
    let mut config = common::config_for(Backend::Memory, &dir).expect("config");
    config.user_db = format!("sqlite://{}", path.display());
    let srv = common::start_in(config, dir).await;
    let r = srv
        .client()
        .post_json(
            "/api/register",
            serde_json::json!({"email": "iv\u{430}n@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

/// Issue 12: a registration with several problems names all of them (page and API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_shows_every_problem() {
    let Some(srv) = start(Backend::Memory, |_| {}).await else {
        return;
    };
    let c = srv.client();
    let r = c
        .post_json(
            "/api/register",
            serde_json::json!({"email": "not-an-email", "password": "short"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let message = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains("valid email") && message.contains("at least 8"),
        "{message}"
    );
    let token = c.get("/register").await.csrf();
    let page = c
        .post_form(
            "/register",
            &[("email", "nope"), ("password", "short"), ("csrf", &token)],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("valid email") && page.body.contains("at least 8"),
        "{}",
        page.body
    );
}
