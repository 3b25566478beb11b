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
        c.cookie_secure = tessera_demo::config::CookieSecure::Always
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
