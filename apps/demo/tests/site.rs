//! The demo site over real HTTP: every route and status of the contract, on the memory
//! and SQLite stores always and on PostgreSQL (`DATABASE_URL`) and Redis (`REDIS_URL`)
//! when they are configured (required under CI=true).

mod common;

use common::{Backend, Client, PASSWORD, Server, eventually, id_of, start, unique_email};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Runs each scenario once per store: `mod memory { fn scenario() }`, `mod sqlite …`.
macro_rules! on_stores {
    ($group:ident: [$($backend:ident),*] $names:tt) => {
        mod $group {
            $( on_stores!(@one $backend $names); )*
        }
    };
    (@one $backend:ident [$($name:ident),* $(,)?]) => {
        #[allow(non_snake_case)]
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::super::$name(super::super::Backend::$backend).await;
                }
            )*
        }
    };
}

// Everything that touches the session store runs on every store.
on_stores!(every_store: [Memory, Sqlite, Postgres, Redis, Mongo, Mysql] [
    pages_register_login_logout,
    api_register_login_logout,
    session_id_changes_and_old_ids_die,
    cookie_attributes,
    revoke_one_and_revoke_others,
    idle_expiry_and_remember_me,
    concurrent_cart_adds,
    a_cart_filling_up_concurrently_reports_only_kept_adds,
    header_transport,
    sessions_per_user_are_capped,
]);

// HTTP-level behaviour (the store only has to work): memory and SQLite.
on_stores!(memory_and_sqlite: [Memory, Sqlite] [
    csrf_is_required,
    throttling,
    bad_inputs_never_500,
    security_headers_health_and_metrics,
    api_errors_are_json,
    api_state_changes_refuse_form_requests,
    parallel_correct_logins_are_not_locked_out,
    registrations_per_address_are_limited,
]);

async fn server(b: Backend) -> Option<Server> {
    start(b, |_| {}).await
}

fn assert_no_session_cookie(r: &common::Resp) {
    assert!(
        r.session_cookie().is_none(),
        "unexpected Set-Cookie {:?}",
        r.set_cookies()
    );
}

async fn pages_register_login_logout(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let c = srv.client();
    let email = unique_email();

    // Logged out: `/` is the login page; protected pages redirect.
    let home = c.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("<h1>Log in</h1>"), "{}", home.body);
    assert!(home.body.contains("<label for=\"email\">"));
    for path in ["/sessions", "/logout"] {
        let r = c.get(path).await;
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.location().as_deref(), Some("/login"), "{path}");
    }

    // Register: validation, then success logs in with a new session id.
    let form = c.get("/register").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    // Issue 11, point 2: the form's token needs no stored session, only a nonce cookie.
    assert!(c.cookie("id").is_none(), "a form page started a session");
    assert!(c.cookie("csrf").is_some(), "no CSRF nonce cookie");
    let r = c
        .post_form(
            "/register",
            &[
                ("email", "not-an-email"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("valid email address"), "{}", r.body);
    let r = c
        .post_form(
            "/register",
            &[("email", &email), ("password", "short"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("at least 8 characters"), "{}", r.body);
    assert!(r.body.contains(&email), "email kept in the form");
    let r = c
        .post_form(
            "/register",
            &[("email", &email), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/"));
    let logged_in = c.cookie("id").expect("session cookie");

    let welcome = c.get("/").await;
    assert_eq!(welcome.status, 200);
    assert!(welcome.body.contains(&format!("Welcome, {email}")));
    assert!(welcome.body.contains("href=\"/sessions\""));
    assert!(welcome.body.contains("action=\"/logout\""));
    assert_eq!(welcome.header("cache-control").as_deref(), Some("no-store"));
    assert!(!welcome.body.contains(&id_of(&logged_in)), "no id in pages");
    assert_eq!(c.get("/login").await.location().as_deref(), Some("/"));

    // A second registration of the same email: 409.
    let other = srv.client();
    let csrf2 = other.get("/register").await.csrf();
    let r = other
        .post_form(
            "/register",
            &[("email", &email), ("password", PASSWORD), ("csrf", &csrf2)],
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("already exists"));

    // Log out: confirmation page, then POST destroys the session and clears the cookie.
    let confirm = c.get("/logout").await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm
            .body
            .contains("<button type=\"submit\">Log out</button>")
    );
    let r = c.post_form("/logout", &[("csrf", &confirm.csrf())]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location().as_deref(), Some("/login"));
    let cleared = r.session_cookie().expect("cookie cleared");
    assert!(cleared.starts_with("id=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(c.cookie("id").is_none());
    // The old cookie is dead server-side.
    let replay = srv.client();
    replay.set_cookie("id", &logged_in);
    assert_eq!(replay.get("/sessions").await.status, 303);
    assert!(replay.get("/").await.body.contains("<h1>Log in</h1>"));

    // Failed login: 401, message, email kept, no new session.
    let form = c.get("/login").await;
    let csrf = form.csrf();
    let r = c
        .post_form(
            "/login",
            &[
                ("email", &email),
                ("password", "wrong password"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Invalid email or password"));
    assert!(r.body.contains(&format!("value=\"{email}\"")));
    assert_no_session_cookie(&r);

    // Log in with "remember me": new id, persistent cookie, welcome page.
    assert!(c.cookie("id").is_none(), "logged out: no session");
    let r = c
        .post_form(
            "/login",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("remember", "1"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let set = r.session_cookie().expect("cookie");
    assert!(set.contains("Max-Age="), "persistent: {set}");
    assert_ne!(id_of(&c.cookie("id").expect("cookie")), id_of(&logged_in));
    let welcome = c.get("/").await;
    assert!(welcome.body.contains("this browser is remembered"));
}

async fn api_register_login_logout(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let c = srv.client();
    let email = unique_email();

    let r = c
        .post_json(
            "/api/register",
            json!({"email": "nope", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.json()["error"].is_string());
    let r = c
        .post_json(
            "/api/register",
            json!({"email": email, "password": "1234567"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_no_session_cookie(&r);

    let r = c.register(&email).await;
    assert_eq!(r.json(), json!({"user": {"email": email}}));
    assert!(r.session_cookie().is_some(), "registering logs in");
    let r = srv
        .client()
        .post_json(
            "/api/register",
            json!({"email": email.to_uppercase(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 409, "emails are case-insensitive");

    let r = c.get("/api/user").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"user": {"email": email}}));

    let r = c.post_json("/api/logout", json!({})).await;
    assert_eq!(r.status, 204);
    assert!(r.session_cookie().is_some_and(|s| s.contains("Max-Age=0")));
    let r = c.get("/api/user").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "not logged in"}));

    let fresh = srv.client();
    let r = fresh
        .post_json("/api/login", json!({"email": email, "password": "wrong"}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "invalid email or password"}));
    assert_no_session_cookie(&r);
    let r = fresh
        .post_json(
            "/api/login",
            json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_no_session_cookie(&r);

    let r = fresh.login(&email, false).await;
    assert_eq!(r.json(), json!({"user": {"email": email}}));
    assert!(r.header("x-session-id").is_some());
    assert_eq!(fresh.get("/api/user").await.status, 200);
    // Logging out without a body works when the request says JSON (without it, a plain
    // HTML form could do the same: refused, see api_state_changes_refuse_form_requests).
    let r = fresh
        .send(
            fresh
                .request(reqwest::Method::POST, "/api/logout")
                .header("content-type", "application/json"),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(fresh.get("/api/user").await.status, 401);
}

async fn session_id_changes_and_old_ids_die(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    srv.client().register(&email).await;

    // An anonymous visitor fills a cart.
    let c = srv.client();
    assert_eq!(c.get("/api/cart").await.json(), json!({"items": []}));
    assert!(
        c.cookie("id").is_none(),
        "reading an empty cart creates no session"
    );
    let r = c
        .post_json("/api/cart/items", json!({"sku": "SKU-1"}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json(), json!({"items": ["SKU-1"]}));
    let anon = c.cookie("id").expect("cart session");

    // Login: new id, the cart comes along, the old id is dead.
    c.login(&email, false).await;
    let logged = c.cookie("id").expect("session");
    assert_ne!(id_of(&logged), id_of(&anon));
    assert_eq!(c.get("/api/cart").await.json(), json!({"items": ["SKU-1"]}));
    let old = srv.client();
    old.set_cookie("id", &anon);
    assert_eq!(old.get("/api/cart").await.json(), json!({"items": []}));
    assert_eq!(old.get("/api/user").await.status, 401);

    // Logout destroys the session and its cart.
    assert_eq!(c.post_json("/api/logout", json!({})).await.status, 204);
    let old = srv.client();
    old.set_cookie("id", &logged);
    assert_eq!(old.get("/api/user").await.status, 401);
    assert_eq!(old.get("/api/cart").await.json(), json!({"items": []}));

    // DELETE /api/cart empties it.
    let c = srv.client();
    c.post_json("/api/cart/items", json!({"sku": "A"})).await;
    assert_eq!(c.delete("/api/cart").await.status, 204);
    assert_eq!(c.get("/api/cart").await.json(), json!({"items": []}));
}

fn attrs(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

fn max_age(set_cookie: &str) -> Option<u64> {
    attrs(set_cookie)
        .iter()
        .find_map(|a| a.strip_prefix("max-age=").and_then(|v| v.parse().ok()))
}

async fn cookie_attributes(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    srv.client().register(&email).await;

    let c = srv.client();
    let set = c
        .login(&email, false)
        .await
        .session_cookie()
        .expect("cookie");
    let a = attrs(&set);
    for want in ["httponly", "samesite=lax", "path=/"] {
        assert!(a.iter().any(|x| x == want), "{want} in {set}");
    }
    assert!(
        !a.iter()
            .any(|x| x.starts_with("expires=") || x.starts_with("max-age=")),
        "a browser-session cookie without remember me: {set}"
    );
    assert!(!a.iter().any(|x| x == "secure"), "plain http: {set}");

    let c = srv.client();
    let set = c
        .login(&email, true)
        .await
        .session_cookie()
        .expect("cookie");
    let a = attrs(&set);
    assert!(a.iter().any(|x| x.starts_with("expires=")), "{set}");
    let age = max_age(&set).expect("Max-Age");
    let thirty_days = 30 * 86_400;
    assert!(
        (thirty_days - 60..=thirty_days).contains(&age),
        "remember me lasts REMEMBER_ME: {set}"
    );
    for want in ["httponly", "samesite=lax", "path=/"] {
        assert!(a.iter().any(|x| x == want), "{want} in {set}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookie_behind_a_trusted_proxy() {
    let email = unique_email();
    let Some(srv) = start(Backend::Memory, |c| c.trust_proxy = true).await else {
        return;
    };
    srv.client().register(&email).await;
    let login = |proto: Option<&'static str>| {
        let c = srv.client();
        let email = email.clone();
        async move {
            let mut rb = c
                .request(reqwest::Method::POST, "/api/login")
                .header("content-type", "application/json")
                .header("x-forwarded-for", "203.0.113.9")
                .body(json!({"email": email, "password": PASSWORD}).to_string());
            if let Some(p) = proto {
                rb = rb.header("x-forwarded-proto", p);
            }
            let r = c.send(rb).await;
            assert_eq!(r.status, 200);
            let sessions = c
                .send(
                    c.request(reqwest::Method::GET, "/api/sessions")
                        .header("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
                )
                .await
                .json();
            (r.session_cookie().expect("cookie"), sessions)
        }
    };
    let (https, sessions) = login(Some("https")).await;
    assert!(attrs(&https).iter().any(|a| a == "secure"), "{https}");
    let (http, _) = login(None).await;
    assert!(!attrs(&http).iter().any(|a| a == "secure"), "{http}");
    // With TRUST_PROXY the client address is the one the proxy appended to
    // X-Forwarded-For (the rightmost entry).
    let list = sessions["sessions"].as_array().expect("list").clone();
    let current = list.iter().find(|s| s["current"] == true).expect("current");
    assert_eq!(current["ip"], "203.0.113.9", "{list:?}");
    drop(srv);

    // Without TRUST_PROXY the header is ignored.
    let Some(srv) = start(Backend::Memory, |_| {}).await else {
        return;
    };
    srv.client().register(&email).await;
    let c = srv.client();
    let r = c
        .send(
            c.request(reqwest::Method::POST, "/api/login")
                .header("content-type", "application/json")
                .header("x-forwarded-proto", "https")
                .body(json!({"email": email, "password": PASSWORD}).to_string()),
        )
        .await;
    let set = r.session_cookie().expect("cookie");
    assert!(!attrs(&set).iter().any(|a| a == "secure"), "{set}");
    drop(srv);

    // COOKIE_SECURE=true: always Secure.
    let Some(srv) = start(Backend::Memory, |c| {
        c.cookie_secure = tessera::Secure::Always;
    })
    .await
    else {
        return;
    };
    let r = srv.client().register(&unique_email()).await;
    let set = r.session_cookie().expect("cookie");
    assert!(attrs(&set).iter().any(|a| a == "secure"), "{set}");
}

async fn revoke_one_and_revoke_others(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    let a = Client::with_agent(
        &srv.base,
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    );
    a.register(&email).await;
    let b2 = Client::with_agent(
        &srv.base,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    );
    b2.login(&email, false).await;

    let r = a.get("/api/sessions").await;
    assert_eq!(r.status, 200);
    let list = r.json()["sessions"].as_array().expect("sessions").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    for s in &list {
        for key in [
            "handle",
            "current",
            "created_at",
            "last_seen_at",
            "user_agent",
            "ip",
        ] {
            assert!(s.get(key).is_some(), "{key} in {s}");
        }
        assert_eq!(s["ip"], "127.0.0.1");
    }
    let mine: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(mine.len(), 1);
    assert!(
        mine[0]["user_agent"]
            .as_str()
            .is_some_and(|u| u.contains("Firefox"))
    );
    // Handles are not the ids (nor contain them).
    let (id_a, id_b) = (
        id_of(&a.cookie("id").expect("a")),
        id_of(&b2.cookie("id").expect("b")),
    );
    assert!(
        !r.body.contains(&id_a) && !r.body.contains(&id_b),
        "{}",
        r.body
    );
    let other = list
        .iter()
        .find(|s| s["current"] == false)
        .expect("other session");
    let handle = other["handle"].as_str().expect("handle").to_owned();

    // Revoke B from A.
    assert_eq!(a.delete("/api/sessions/not-a-handle").await.status, 404);
    assert_eq!(
        a.delete(&format!("/api/sessions/{handle}")).await.status,
        204
    );
    assert_eq!(b2.get("/api/user").await.status, 401);
    assert_eq!(a.get("/api/user").await.status, 200);
    assert_eq!(a.delete("/api/sessions").await.status, 400);

    // The sessions page, from a browser-like client.
    let p = Client::with_agent(
        &srv.base,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    );
    let r = p.login_page(&email, PASSWORD, false).await;
    assert_eq!(r.status, 303);
    let page = p.get("/sessions").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("this device"), "{}", page.body);
    assert!(page.body.contains("Safari on macOS"), "{}", page.body);
    assert!(page.body.contains("Firefox on Linux"), "{}", page.body);
    assert!(page.body.contains("Sign out all other devices"));
    let id_p = id_of(&p.cookie("id").expect("p"));
    assert!(!page.body.contains(&id_p) && !page.body.contains(&id_a));
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    // Revoke A from the page.
    let a_handle = a.get("/api/sessions").await.json()["sessions"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["current"] == true).cloned())
        .and_then(|s| s["handle"].as_str().map(str::to_owned))
        .expect("a's handle");
    assert!(page.body.contains(&a_handle));
    let r = p
        .post_form(
            &format!("/sessions/{a_handle}/revoke"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location().as_deref(), Some("/sessions?done=revoked"));
    assert_eq!(a.get("/api/user").await.status, 401);

    // Sign out all other devices (page), then via the API.
    let c = srv.client();
    c.login(&email, true).await;
    let page = p.get("/sessions").await;
    let r = p
        .post_form("/sessions/revoke-others", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(c.get("/api/user").await.status, 401);
    assert_eq!(p.get("/api/user").await.status, 200);
    let d = srv.client();
    d.login(&email, false).await;
    assert_eq!(p.delete("/api/sessions?scope=others").await.status, 204);
    assert_eq!(d.get("/api/user").await.status, 401);
    let left = p.get("/api/sessions").await.json()["sessions"]
        .as_array()
        .map(Vec::len);
    assert_eq!(left, Some(1));

    // Revoking the current session logs it out (cookie cleared).
    let own = p.get("/api/sessions").await.json()["sessions"][0]["handle"]
        .as_str()
        .map(str::to_owned)
        .expect("handle");
    let r = p.delete(&format!("/api/sessions/{own}")).await;
    assert_eq!(r.status, 204);
    assert!(r.session_cookie().is_some_and(|s| s.contains("Max-Age=0")));
    assert_eq!(p.get("/api/user").await.status, 401);
    assert_eq!(p.get("/api/sessions").await.status, 401);
}

async fn idle_expiry_and_remember_me(b: Backend) {
    let Some(srv) = start(b, |c| {
        c.session_idle_timeout = Duration::from_secs(2);
    })
    .await
    else {
        return;
    };
    let email = unique_email();
    let registrar = srv.client();
    registrar.register(&email).await;
    assert_eq!(
        registrar.post_json("/api/logout", json!({})).await.status,
        204
    );
    let remembered = srv.client();
    remembered.login(&email, true).await;
    let watcher = srv.client();
    watcher.login(&email, true).await;
    let slider = srv.client();
    slider.login(&email, false).await;
    let before_login = Instant::now();
    let idle = srv.client();
    idle.login(&email, false).await;
    assert_eq!(idle.get("/api/user").await.status, 200);

    // Activity slides the idle window: a session used every 500 ms outlives 2 s.
    let sliding_since = Instant::now();
    while sliding_since.elapsed() < Duration::from_secs(3) {
        assert_eq!(slider.get("/api/user").await.status, 200, "sliding session");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Watch the idle session disappear from the user's list without touching it.
    let count = || async {
        watcher.get("/api/sessions").await.json()["sessions"]
            .as_array()
            .map_or(0, Vec::len)
    };
    eventually(
        Duration::from_secs(15),
        "the idle session to expire",
        || async { (count().await == 3).then_some(()) },
    )
    .await;
    assert!(
        before_login.elapsed() >= Duration::from_secs(2),
        "expired after {:?}, before the 2 s idle timeout",
        before_login.elapsed()
    );
    assert_eq!(idle.get("/api/user").await.status, 401);
    assert_eq!(slider.get("/api/user").await.status, 200);
    // The remember-me session was idle longer than 2 s and is still alive.
    assert_eq!(remembered.get("/api/user").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_timeout_ends_active_sessions() {
    let Some(srv) = start(Backend::Memory, |c| {
        c.session_absolute_timeout = Duration::from_secs(3);
    })
    .await
    else {
        return;
    };
    let email = unique_email();
    let c = srv.client();
    c.register(&email).await;
    let t0 = Instant::now();
    // Constant activity does not extend it.
    eventually(Duration::from_secs(15), "the absolute timeout", || async {
        (c.get("/api/user").await.status == 401).then_some(())
    })
    .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        t0.elapsed()
    );
}

/// Issue 11, point 12: adds racing for the cart's last places. Every 201 is an item
/// kept; the others are told they failed (422 full, or 409 when refused on replay).
async fn a_cart_filling_up_concurrently_reports_only_kept_adds(b: Backend) {
    const MAX_CART: usize = tessera_demo::api::MAX_CART;
    let Some(srv) = server(b).await else { return };
    let c = srv.client();
    c.register(&unique_email()).await;
    let add = |n: usize| {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let c = c.clone();
            tasks.spawn(async move {
                c.post_json("/api/cart/items", json!({"sku": format!("SKU-{i}")}))
                    .await
            });
        }
        tasks
    };
    let mut prefill = add(MAX_CART - 20);
    while let Some(r) = prefill.join_next().await {
        assert_eq!(r.expect("task").status, 201);
    }
    let mut race = add(60);
    let mut created = 0;
    while let Some(r) = race.join_next().await {
        let r = r.expect("task");
        match r.status {
            201 => created += 1,
            409 | 422 => assert!(r.json()["error"].is_string(), "{}", r.body),
            other => panic!("{other}: {}", r.body),
        }
    }
    let kept = c.get("/api/cart").await.json()["items"]
        .as_array()
        .expect("items")
        .len();
    assert_eq!(kept, MAX_CART);
    assert_eq!(created, 20, "201 answers vs items added");
}

async fn concurrent_cart_adds(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    let c = srv.client();
    c.register(&email).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let c = c.clone();
        tasks.spawn(async move {
            c.post_json("/api/cart/items", json!({"sku": format!("SKU-{i}")}))
                .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        let r = r.expect("task");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let items = c.get("/api/cart").await.json()["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), 100, "no add is lost");
    let mut skus: Vec<String> = items
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    skus.sort();
    skus.dedup();
    assert_eq!(skus.len(), 100);
}

/// Issue 11, point 5: one account keeps at most `MAX_SESSIONS_PER_USER` (10) live
/// sessions; each login beyond logs out the oldest.
async fn sessions_per_user_are_capped(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    let first = srv.client();
    first.register(&email).await; // session 1
    let mut clients = Vec::new();
    for _ in 0..12 {
        let c = srv.client();
        assert_eq!(c.login(&email, false).await.status, 200);
        clients.push(c);
    }
    assert_eq!(
        first.get("/api/user").await.status,
        401,
        "the oldest is out"
    );
    let live: Vec<u16> = {
        let mut v = Vec::new();
        for c in &clients {
            v.push(c.get("/api/user").await.status);
        }
        v
    };
    assert_eq!(
        &live[..2],
        &[401, 401],
        "the next two oldest are out: {live:?}"
    );
    assert!(
        live[2..].iter().all(|s| *s == 200),
        "the newest ten stay: {live:?}"
    );
    let listed = clients[11].get("/api/sessions").await.json();
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(10),
        "{listed}"
    );
}

/// Issue 11, point 10: attempts in flight are not failures. Ten parallel logins with the
/// right password all succeed (they used to get five 429s).
async fn parallel_correct_logins_are_not_locked_out(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    srv.client().register(&email).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let c = srv.client();
        let email = email.clone();
        tasks.spawn(async move { c.login(&email, false).await.status });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), 200);
    }
}

async fn header_transport(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    srv.client().register(&email).await;

    // A client without cookies.
    let c = srv.client();
    let r = c.login(&email, false).await;
    let token = r.header("x-session-id").expect("X-Session-Id on login");
    let cookie = r.session_cookie().expect("cookie too");
    assert!(
        cookie.starts_with(&format!("id={token};")),
        "same token: {cookie} vs {token}"
    );
    c.clear_cookies();
    let with_header = |method, path: &str| {
        c.request(method, path)
            .header("x-session-id", token.clone())
    };
    let r = c.send(with_header(reqwest::Method::GET, "/api/user")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-session-id").is_none(), "sent only at login");
    let r = c
        .send(with_header(reqwest::Method::GET, "/api/sessions"))
        .await;
    assert_eq!(r.status, 200);
    let id = id_of(&token);
    assert!(
        !r.body.contains(&id) && !r.body.contains(&token),
        "{}",
        r.body
    );
    // Pages know only the cookie: the header alone does not log a page in.
    let r = c.send(with_header(reqwest::Method::GET, "/")).await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("Welcome"), "{}", r.body);
    assert!(!r.body.contains(&id));
    assert!(r.header("x-session-id").is_none());
    let r = c.send(with_header(reqwest::Method::GET, "/sessions")).await;
    assert!(
        !r.body.contains(&email),
        "the sessions page is not unlocked by the header: {}",
        r.body
    );
    // The pages gave this client a CSRF nonce cookie; a header-only client drops it.
    c.clear_cookies();

    // The page login never sends the header.
    let p = srv.client();
    let r = p.login_page(&email, PASSWORD, false).await;
    assert_eq!(r.status, 303);
    assert!(r.header("x-session-id").is_none());

    // Logout through the header.
    let r = c
        .send(with_header(reqwest::Method::POST, "/api/logout"))
        .await;
    assert_eq!(r.status, 204);
    let r = c.send(with_header(reqwest::Method::GET, "/api/user")).await;
    assert_eq!(r.status, 401);
}

/// Every error under `/api` is JSON with a message, also those axum produces itself
/// (undecodable path parameter, wrong method) and unknown paths; headers such as `Allow`
/// survive.
async fn api_errors_are_json(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let c = srv.client();
    for (method, path, status) in [
        (reqwest::Method::DELETE, "/api/sessions/%ff%fe", 400),
        (reqwest::Method::PUT, "/api/user", 405),
        (reqwest::Method::GET, "/api/no-such-thing", 404),
        (reqwest::Method::GET, "/api/user", 401),
    ] {
        let r = c.send(c.request(method.clone(), path)).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{method} {path}: {:?}",
            r.header("content-type")
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("a JSON body");
        let message = v["error"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{method} {path}: {}", r.body);
        if status == 405 {
            assert!(r.header("allow").is_some(), "Allow kept");
        }
    }
}

/// Logout CSRF (issue 11, point 6): what a plain HTML form on another page, even of a
/// sibling subdomain, could send with the session cookie is refused; JSON is not.
async fn api_state_changes_refuse_form_requests(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    let c = srv.client();
    c.register(&email).await;
    assert_eq!(c.login(&email, false).await.status, 200);
    let logout = |ct: Option<&str>, site: Option<&str>| {
        let mut rb = c.request(reqwest::Method::POST, "/api/logout");
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        if let Some(site) = site {
            rb = rb.header("sec-fetch-site", site);
        }
        c.send(rb)
    };
    for (ct, site) in [
        (Some("application/x-www-form-urlencoded"), Some("same-site")),
        (Some("application/x-www-form-urlencoded"), None),
        (Some("text/plain"), None),
        (Some("multipart/form-data; boundary=x"), None),
        (None, None),
        (Some("application/json"), Some("same-site")),
        (Some("application/json"), Some("cross-site")),
    ] {
        let r = logout(ct, site).await;
        assert_eq!(r.status, 403, "{ct:?} {site:?}: {}", r.body);
        assert!(r.json()["error"].is_string());
        assert_eq!(
            c.get("/api/user").await.status,
            200,
            "still logged in after {ct:?} {site:?}"
        );
    }
    let r = logout(Some("application/json"), Some("same-origin")).await;
    assert_eq!(r.status, 204);
    assert_eq!(c.get("/api/user").await.status, 401);
}

async fn csrf_is_required(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    let c = srv.client();
    let token = c.get("/login").await.csrf();
    c.register(&email).await;
    // Note: `register` changed the session, so `token` is now also stale.
    let posts = [
        "/login",
        "/register",
        "/logout",
        "/sessions/revoke-others",
        "/sessions/abc/revoke",
    ];
    for path in posts {
        let missing = c
            .post_form(path, &[("email", &email), ("password", PASSWORD)])
            .await;
        assert_eq!(missing.status, 403, "{path} without a token");
        let wrong = c.post_form(path, &[("csrf", "forged")]).await;
        assert_eq!(wrong.status, 403, "{path} with a wrong token");
        let stale = c.post_form(path, &[("csrf", &token)]).await;
        assert_eq!(stale.status, 403, "{path} with another session's token");
    }
    // Still logged in: none of the forged posts did anything.
    assert_eq!(c.get("/api/user").await.status, 200);
    // A token from another visitor's session does not work either.
    let other = srv.client().get("/login").await.csrf();
    let r = c.post_form("/logout", &[("csrf", &other)]).await;
    assert_eq!(r.status, 403);
    // The right token does.
    let mine = c.get("/").await.csrf();
    assert_eq!(c.post_form("/logout", &[("csrf", &mine)]).await.status, 303);
    // Without any session a POST is refused too (and creates none).
    let fresh = srv.client();
    let r = fresh.post_form("/login", &[("csrf", "x")]).await;
    assert_eq!(r.status, 403);
    assert_no_session_cookie(&r);
}

/// Issue 11, point 4 (the per-address limit): `REGISTER_LIMIT` registrations per client
/// address and hour, pages and API together; the next gets 429 with `Retry-After`.
async fn registrations_per_address_are_limited(b: Backend) {
    let Some(srv) = start(b, |c| c.register_limit = 3).await else {
        return;
    };
    let c = srv.client();
    for _ in 0..2 {
        c.register(&unique_email()).await;
    }
    // The third through the page.
    let p = srv.client();
    let csrf = p.get("/register").await.csrf();
    let email = unique_email();
    let r = p
        .post_form(
            "/register",
            &[("email", &email), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "third registration: {}", r.body);
    let r = c
        .post_json(
            "/api/register",
            json!({"email": unique_email(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.json()["error"].is_string());
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((3000..=3600).contains(&wait), "{wait}");
    let q = srv.client(); // logged out (p is logged in now)
    let csrf = q.get("/register").await.csrf();
    let r = q
        .post_form(
            "/register",
            &[
                ("email", &unique_email()),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 429, "the page shares the counter");
    assert!(r.header("retry-after").is_some());
}

async fn throttling(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let email = unique_email();
    srv.client().register(&email).await;
    let api = srv.client();
    let page = srv.client();
    let bad_api = || api.post_json("/api/login", json!({"email": email, "password": "nope"}));

    // 4 failures, then a success clears the email's counter.
    for _ in 0..4 {
        assert_eq!(bad_api().await.status, 401);
    }
    api.login(&email, false).await;

    // Pages and API share the counters: 3 page + 2 API failures, the 6th is locked.
    let csrf = page.get("/login").await.csrf();
    for _ in 0..3 {
        let r = page
            .post_form(
                "/login",
                &[("email", &email), ("password", "nope"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status, 401);
    }
    for _ in 0..2 {
        assert_eq!(bad_api().await.status, 401);
    }
    let r = bad_api().await;
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(r.json()["error"].is_string());
    // The correct password is refused while locked: the lock reveals nothing.
    let r = srv
        .client()
        .post_json("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(r.status, 429);
    assert_no_session_cookie(&r);
    let r = page
        .post_form(
            "/login",
            &[("email", &email), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(r.body.contains("Too many failed logins"));
    // The case of the email does not matter.
    let r = srv
        .client()
        .post_json(
            "/api/login",
            json!({"email": email.to_uppercase(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 429);

    // Per address: 20 failures from one IP whatever the email; 9 so far (the 4 before
    // the success stay counted for the address), so 11 more, then the 21st is locked.
    let c = srv.client();
    for i in 0..11 {
        let r = c
            .post_json(
                "/api/login",
                json!({"email": format!("x{i}-{}", unique_email()), "password": "nope"}),
            )
            .await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = c
        .post_json(
            "/api/login",
            json!({"email": unique_email(), "password": "nope"}),
        )
        .await;
    assert_eq!(r.status, 429);
    let metrics = c.get("/metrics").await.body;
    assert!(metrics.contains("tessera_demo_logins_total{result=\"throttled\"}"));
}

async fn bad_inputs_never_500(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let c = srv.client();
    let post = |path: &str, ct: Option<&str>, body: String| {
        let mut rb = c.request(reqwest::Method::POST, path).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        c.send(rb)
    };
    // 415: a body that is not JSON.
    for path in [
        "/api/login",
        "/api/register",
        "/api/cart/items",
        "/api/logout",
    ] {
        let r = post(path, Some("text/plain"), "{}".into()).await;
        assert_eq!(r.status, 415, "{path}");
        assert!(r.json()["error"].is_string());
        let r = post(path, None, "{\"email\":\"a\"}".into()).await;
        assert_eq!(r.status, 415, "{path} without a content type");
    }
    // 400: malformed JSON, or the wrong shape.
    for body in ["{", "[1,2", "{\"email\": 5}", "null", "\u{0}"] {
        let r = post("/api/login", Some("application/json"), body.into()).await;
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    // 413: over 16 KiB.
    let big = json!({"email": "a@example.com", "password": "x".repeat(20 * 1024)}).to_string();
    let r = post("/api/login", Some("application/json"), big.clone()).await;
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].is_string());
    let r = post(
        "/login",
        Some("application/x-www-form-urlencoded"),
        format!("email=a&password={}", "x".repeat(20 * 1024)),
    )
    .await;
    assert_eq!(r.status, 413);
    // Forms must be forms.
    let r = post("/login", Some("application/json"), "{}".into()).await;
    assert_eq!(r.status, 415);
    // Bad SKUs are 422.
    let r = c.post_json("/api/cart/items", json!({"sku": ""})).await;
    assert_eq!(r.status, 422);
    let r = c
        .post_json("/api/cart/items", json!({"sku": "<script>"}))
        .await;
    assert_eq!(r.status, 422);
    // Cross-site API writes are refused.
    let r = c
        .send(
            c.request(reqwest::Method::POST, "/api/logout")
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    assert_eq!(r.status, 403);
    // Unknown routes.
    let r = c.get("/api/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"error": "not found"}));
    assert_eq!(c.get("/nope").await.status, 404);

    // A 10 KB garbage cookie (and header) on every kind of route.
    let garbage: String = (0..10_000)
        .map(|i| char::from(b"abcXYZ019%:.s-_"[i % 15]))
        .collect();
    let g = srv.client();
    g.set_cookie("id", &garbage);
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::GET, "/login"),
        (reqwest::Method::GET, "/sessions"),
        (reqwest::Method::GET, "/api/user"),
        (reqwest::Method::GET, "/api/cart"),
        (reqwest::Method::GET, "/api/sessions"),
        (reqwest::Method::POST, "/api/logout"),
        (reqwest::Method::DELETE, "/api/sessions?scope=others"),
    ] {
        let r = g
            .send(
                g.request(method.clone(), path)
                    .header("x-session-id", garbage.clone()),
            )
            .await;
        assert!(r.status < 500, "{method} {path}: {}", r.status);
    }
    let r = g.post_json("/api/cart/items", json!({"sku": "A"})).await;
    assert_eq!(r.status, 201);
    let r = g.post_form("/login", &[("csrf", &garbage)]).await;
    assert_eq!(r.status, 403);
}

async fn security_headers_health_and_metrics(b: Backend) {
    let Some(srv) = server(b).await else { return };
    let c = srv.client();
    c.register(&unique_email()).await;
    for path in ["/", "/login", "/api/user", "/nope", "/api/nope", "/healthz"] {
        let r = c.get(path).await;
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            r.header("referrer-policy").as_deref(),
            Some("same-origin"),
            "{path}"
        );
        let csp = r.header("content-security-policy").expect("CSP");
        assert!(
            !csp.contains("unsafe-inline") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(
            r.headers.get_all("vary").iter().any(|v| v
                .to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("cookie"))),
            "Vary: Cookie on {path}"
        );
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
    }
    // Pages use no inline script or style.
    let page = c.get("/").await.body;
    assert!(
        !page.contains("<script") && !page.contains("style="),
        "{page}"
    );
    let css = c.get("/static/style.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .is_some_and(|t| t.starts_with("text/css"))
    );

    let h = c.get("/healthz").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json(), json!({"status": "ok"}));

    c.post_json("/api/logout", json!({})).await;
    let m = c.get("/metrics").await;
    assert_eq!(m.status, 200);
    for name in [
        "tessera_sessions_created_total",
        "tessera_sessions_destroyed_total",
        "tessera_sessions_active",
        "tessera_store_op_seconds",
        "tessera_demo_logins_total{result=\"success\"}",
        "tessera_demo_logins_total{result=\"failure\"}",
        "tessera_demo_http_responses_total{status=\"200\"}",
    ] {
        assert!(m.body.contains(name), "{name} in /metrics");
    }
}

/// A memory store that can be switched to fail.
#[derive(Clone, Default)]
struct Flaky {
    inner: tessera::MemoryStore,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Only writes fail (loads work): the end-of-request save fails after the handler
    /// succeeded, so the session layer replaces the response.
    writes_down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// `count()` calls so far.
    counts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Flaky {
    fn check(&self) -> Result<(), tessera::StoreError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(tessera::StoreError::unavailable("injected outage"))
        } else {
            Ok(())
        }
    }
}

impl tessera::SessionStore for Flaky {
    async fn load(
        &self,
        id: &tessera::SessionId,
    ) -> Result<Option<tessera::Record>, tessera::StoreError> {
        self.check()?;
        self.inner.load(id).await
    }
    async fn create(&self, r: &tessera::Record) -> Result<u64, tessera::StoreError> {
        self.check()?;
        self.inner.create(r).await
    }
    async fn save(&self, r: &tessera::Record) -> Result<tessera::SaveOutcome, tessera::StoreError> {
        self.check()?;
        if self.writes_down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tessera::StoreError::unavailable("injected write outage"));
        }
        self.inner.save(r).await
    }
    async fn touch(
        &self,
        id: &tessera::SessionId,
        at: time::OffsetDateTime,
    ) -> Result<bool, tessera::StoreError> {
        self.check()?;
        self.inner.touch(id, at).await
    }
    async fn delete(&self, id: &tessera::SessionId) -> Result<bool, tessera::StoreError> {
        self.check()?;
        self.inner.delete(id).await
    }
    async fn list_by_user(&self, u: &str) -> Result<Vec<tessera::Record>, tessera::StoreError> {
        self.check()?;
        self.inner.list_by_user(u).await
    }
    async fn delete_by_user(
        &self,
        u: &str,
        except: Option<&tessera::SessionId>,
    ) -> Result<u64, tessera::StoreError> {
        self.check()?;
        self.inner.delete_by_user(u, except).await
    }
    async fn count(&self) -> Result<u64, tessera::StoreError> {
        self.counts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.check()?;
        self.inner.count().await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<tessera::ScanPage, tessera::StoreError> {
        self.check()?;
        self.inner.scan(cursor, limit).await
    }
}

/// Issue 11, point 13: `/metrics` does not count the store per scrape (a full `SCAN` on
/// Redis); the gauge is refreshed in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scrapes_do_not_count_the_store() {
    let store = Flaky::default();
    let srv = common::start_with_store(tessera::BoxedStore::new(store.clone())).await;
    let c = srv.client();
    for _ in 0..30 {
        let r = c.get("/metrics").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("tessera_sessions_active"), "{}", r.body);
    }
    let n = store.counts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        n <= 2,
        "30 scrapes, {n} counts: only the background refresh counts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_is_503_and_unhealthy() {
    let store = Flaky::default();
    let srv = common::start_with_store(tessera::BoxedStore::new(store.clone())).await;
    let c = srv.client();
    c.register(&unique_email()).await;
    assert_eq!(c.get("/healthz").await.status, 200);
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let h = c.get("/healthz").await;
    assert_eq!(h.status, 503);
    assert_eq!(h.json()["session_store"], "unavailable");
    assert_eq!(c.get("/").await.status, 503);
    assert_eq!(c.get("/api/user").await.status, 503);
    assert_eq!(c.get("/api/sessions").await.status, 503);
    assert!(
        c.get("/metrics").await.status == 200,
        "metrics still render"
    );
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        c.get("/api/user").await.status,
        200,
        "back when the store is"
    );
    // A save that fails after the handler succeeded: the layer's 503, rendered as JSON
    // under /api and as a page elsewhere (never an empty body).
    store
        .writes_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let r = c
        .post_json("/api/cart/items", json!({"sku": "SKU-1"}))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert!(r.json()["error"].is_string(), "{}", r.body);
    store
        .writes_down
        .store(false, std::sync::atomic::Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sessions_survive_a_restart() {
    let Some(srv) = start(Backend::Sqlite, |c| c.session_secret = None).await else {
        return;
    };
    let email = unique_email();
    let c = srv.client();
    c.register(&email).await;
    c.post_json("/api/cart/items", json!({"sku": "KEEP-ME"}))
        .await;
    let secret_file = srv.config.data_dir.join("secret");
    let secret = std::fs::read_to_string(&secret_file).expect("generated secret");
    assert!(secret.trim().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secret file mode");
    }
    let config = srv.config.clone();
    let dir = srv.stop().await;

    let srv = common::start_in(config, dir).await;
    let c2 = Client::new(&srv.base);
    c2.set_cookie("id", &c.cookie("id").expect("cookie"));
    let r = c2.get("/api/user").await;
    assert_eq!(
        r.status, 200,
        "the session and the generated secret persist"
    );
    assert_eq!(r.json(), json!({"user": {"email": email}}));
    assert_eq!(
        c2.get("/api/cart").await.json(),
        json!({"items": ["KEEP-ME"]})
    );
    assert_eq!(
        std::fs::read_to_string(srv.config.data_dir.join("secret")).expect("secret"),
        secret,
        "the secret is reused"
    );
}

#[tokio::test]
async fn startup_errors_are_errors() {
    let dir = common::TempDir::new();
    let base = common::config_for(Backend::Memory, &dir).expect("config");
    type Tweak = Box<dyn Fn(&mut tessera_demo::Config)>;
    let cases: [(&str, Tweak); 4] = [
        (
            "unknown store",
            Box::new(|c| c.session_store = "ftp://x".into()),
        ),
        (
            "at least 32 bytes",
            Box::new(|c| c.session_secret = Some("too short".into())),
        ),
        (
            "USER_DB",
            Box::new(|c| c.user_db = "mysql://u:secretpw@h/db".into()),
        ),
        (
            "cannot connect",
            Box::new(|c| c.session_store = "postgres://u:secretpw@127.0.0.1:1/db".into()),
        ),
    ];
    for (want, tweak) in cases {
        let mut c = base.clone();
        tweak(&mut c);
        let err = match tessera_demo::App::build(c).await {
            Ok(_) => panic!("{want}: started"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(want), "{want} in {err}");
        assert!(!err.contains("secretpw"), "credentials in {err}");
    }
}

#[test]
fn the_binary_exits_with_a_one_line_error() {
    let dir = common::TempDir::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-demo"))
        .current_dir(dir.path())
        .args(["--port", "0", "--session-store", "bogus://x"])
        .env("RUST_LOG", "off")
        .output()
        .expect("run the binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-demo"))
        .current_dir(dir.path())
        .args(["--session-idle-timeout", "forever"])
        .output()
        .expect("run the binary");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid duration"));
}

#[tokio::test]
async fn metrics_token_guards_metrics() {
    let Some(srv) = start(Backend::Memory, |c| {
        c.metrics_token = Some("scrape-token-for-tests".into())
    })
    .await
    else {
        return;
    };
    let c = srv.client();
    let bare = c.get("/metrics").await;
    assert_eq!(bare.status, 401);
    assert_eq!(
        bare.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"metrics\"")
    );
    assert!(
        !bare.body.contains("tessera_"),
        "no metrics without the token"
    );
    let wrong = c
        .send(
            c.request(reqwest::Method::GET, "/metrics")
                .header("authorization", "Bearer scrape-token-for-test"),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let right = c
        .send(
            c.request(reqwest::Method::GET, "/metrics")
                .header("authorization", "Bearer scrape-token-for-tests"),
        )
        .await;
    assert_eq!(right.status, 200);
    assert!(right.body.contains("tessera_demo_http_responses_total"));
    // Health checks stay open for load balancers.
    assert_eq!(c.get("/healthz").await.status, 200);
}

/// `/healthz` names the user database when only it is down (PostgreSQL: the test's own
/// database stops accepting connections), logins answer 503, and everything recovers when
/// it is back, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_the_user_db_when_only_it_is_down() {
    use sqlx::Connection as _;
    // Sessions in memory, accounts in this run's own PostgreSQL database.
    let Some(srv) = start(Backend::Postgres, |c| c.session_store = "memory".into()).await else {
        return;
    };
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = srv
        .config
        .user_db
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("database name")
        .to_owned();
    assert!(
        db.starts_with("tessera_demo_"),
        "only this run's database: {db}"
    );
    let c = srv.client();
    let email = unique_email();
    assert_eq!(
        c.post_json(
            "/api/register",
            json!({"email": email, "password": PASSWORD})
        )
        .await
        .status,
        201
    );
    assert_eq!(c.get("/healthz").await.status, 200);

    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let set_allowed = |on: bool| format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS {on}");
    sqlx::query(&set_allowed(false))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db)
        .execute(&mut admin)
        .await
        .unwrap();

    let h = c.get("/healthz").await;
    assert_eq!(h.status, 503, "{}", h.body);
    assert_eq!(
        h.json(),
        json!({"status": "unavailable", "session_store": "ok", "user_db": "unavailable"})
    );
    let other = srv.client();
    let login = other
        .post_json("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(login.status, 503, "{}", login.body);
    // The logged-in client's session lives in the (healthy) session store.
    assert_eq!(c.get("/api/user").await.status, 200);

    sqlx::query(&set_allowed(true))
        .execute(&mut admin)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "healthy again once the database is back",
        || async { (c.get("/healthz").await.status == 200).then_some(()) },
    )
    .await;
    let login = other
        .post_json("/api/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
}

/// Issue 11, point 14: a "remember me" session written by a Node app (a persistent
/// cookie, no Tessera metadata) keeps its own lifetime when this site reads and saves it,
/// instead of being cut to the absolute timeout (12 h).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_remember_me_session_keeps_its_lifetime() {
    use tessera::SessionStore as _;
    let store = tessera::MemoryStore::default();
    let srv = common::start_with_store(tessera::BoxedStore::new(store.clone())).await;
    let c = srv.client();
    let email = unique_email();
    c.register(&email).await;
    let id = tessera::SessionId::parse(&id_of(&c.cookie("id").expect("cookie"))).expect("an id");
    let mine = store.load(&id).await.expect("load").expect("stored");
    let user = mine.data["user"].clone();
    // What express-session + a remember-me login in Node store: a 30-day cookie, the
    // app's data, nothing of Tessera's.
    let now = time::OffsetDateTime::now_utc();
    let thirty_days = Duration::from_secs(30 * 86_400);
    let node = json!({
        "cookie": {
            "originalMaxAge": thirty_days.as_millis() as u64,
            "expires": tessera::store_support::iso_ms(now + thirty_days),
            "httpOnly": true, "path": "/", "sameSite": "lax",
        },
        "user": user,
    });
    let record = tessera::Record::from_json(
        id.clone(),
        &node.to_string(),
        tessera::StoredMeta::new(now + thirty_days, 0),
    )
    .expect("node record");
    store.delete(&id).await.expect("delete");
    store.create(&record).await.expect("create");

    // The site reads it (and writes it back: the device's last-seen time).
    assert_eq!(c.get("/api/user").await.status, 200);
    let after = store.load(&id).await.expect("load").expect("still stored");
    let left = after.expires_at - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::days(29),
        "the session now expires in {left}, not in 30 days"
    );
    // And it stays so once it carries Tessera's metadata.
    assert_eq!(
        after.absolute_timeout_ms,
        Some(thirty_days.as_millis() as i64)
    );
}
