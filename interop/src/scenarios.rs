//! The interop scenarios, run by `tests/*.rs` for each shared store.

use crate::http::{Browser, request};
use serde_json::{Value, json};
use tessera::{BoxedStore, SessionId, SessionStore};
use time::OffsetDateTime;

/// Both apps on one store.
pub struct Pair {
    /// The Rust app's port (secrets `[SECRET]`).
    pub rust: u16,
    /// The Rust app rotated to `[NEW_SECRET, SECRET]`.
    pub rust_rotated: u16,
    /// The Node app's port (secrets `[SECRET]`).
    pub node: u16,
    /// The shared store, for checking expiry.
    pub store: BoxedStore,
}

impl Pair {
    /// Serves the Rust app twice on `store` (with `[SECRET]` and rotated to
    /// `[NEW_SECRET, SECRET]`) beside the Node app listening on `node`.
    pub async fn serve(store: BoxedStore, node: u16) -> Pair {
        use crate::{NEW_SECRET, SECRET, app};
        Pair {
            rust: app::serve(store.clone(), &[SECRET]).await,
            rust_rotated: app::serve(store.clone(), &[NEW_SECRET, SECRET]).await,
            node,
            store,
        }
    }
}

fn id_of(cookie: &str) -> SessionId {
    let v = cookie.split_once('=').map(|x| x.1).unwrap_or_default();
    let v = v
        .replace("%3A", ":")
        .replace("%2B", "+")
        .replace("%2F", "/");
    let id = v
        .strip_prefix("s:")
        .and_then(|s| s.rsplit_once('.'))
        .map(|x| x.0)
        .unwrap_or_default();
    SessionId::parse(id).expect("session id in cookie")
}

async fn whoami(port: u16, cookie: &str) -> (u16, Value) {
    let r = request(port, "GET", "/whoami", Some(cookie), None).await;
    (r.status, r.json["user"]["email"].clone())
}

/// Logging in on one side logs the same cookie in on the other.
pub async fn login_crosses(p: &Pair) {
    let mut b = Browser::default();
    assert_eq!(
        b.send(
            p.rust,
            "POST",
            "/login",
            Some(json!({"email": "rust@example.com"}))
        )
        .await
        .status,
        200
    );
    let cookie = b.cookie.clone().expect("Rust set the cookie");
    assert_eq!(
        whoami(p.node, &cookie).await,
        (200, json!("rust@example.com")),
        "Node sees the Rust login"
    );
    let mut c = Browser::default();
    assert_eq!(
        c.send(
            p.node,
            "POST",
            "/login",
            Some(json!({"email": "node@example.com"}))
        )
        .await
        .status,
        200
    );
    let cookie = c.cookie.clone().expect("Node set the cookie");
    assert_eq!(
        whoami(p.rust, &cookie).await,
        (200, json!("node@example.com")),
        "Rust sees the Node login"
    );
}

/// Values written on one side are read on the other with their JSON types.
pub async fn values_cross(p: &Pair) {
    let mut b = Browser::default();
    b.send(
        p.node,
        "POST",
        "/login",
        Some(json!({"email": "v@example.com"})),
    )
    .await;
    let from_node = json!({"int": 42, "neg": -7, "float": 1.5, "big": 9_007_199_254_740_991_i64, "text": "żółć 🚀 \"q\"",
        "list": [1, "two", null, true, {"k": []}], "nested": {"a": {"b": {"c": false}}}});
    assert_eq!(
        b.send(
            p.node,
            "POST",
            "/set",
            Some(json!({"key": "fromNode", "value": from_node}))
        )
        .await
        .status,
        200
    );
    let got = b.send(p.rust, "GET", "/get/fromNode", None).await;
    assert_eq!(
        got.json["value"], from_node,
        "Rust reads Node's value exactly"
    );
    let from_rust = json!({"cart": ["sku-1", "sku-2"], "count": 3, "ratio": 0.25, "unicode": "日本語", "none": null});
    assert_eq!(
        b.send(
            p.rust,
            "POST",
            "/set",
            Some(json!({"key": "fromRust", "value": from_rust}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        b.send(p.node, "GET", "/get/fromRust", None).await.json["value"],
        from_rust,
        "Node reads Rust's value exactly"
    );
    assert_eq!(
        b.send(p.node, "GET", "/get/fromNode", None).await.json["value"],
        from_node,
        "Rust's write kept Node's key"
    );
    assert_eq!(whoami(p.node, b.cookie.as_deref().unwrap()).await.0, 200);
}

/// Logging out on either side ends the session on both.
pub async fn logout_crosses(p: &Pair) {
    for (login_on, logout_on) in [(p.rust, p.node), (p.node, p.rust)] {
        let mut b = Browser::default();
        b.send(
            login_on,
            "POST",
            "/login",
            Some(json!({"email": "bye@example.com"})),
        )
        .await;
        let cookie = b.cookie.clone().unwrap();
        assert_eq!(whoami(logout_on, &cookie).await.0, 200);
        assert_eq!(b.send(logout_on, "POST", "/logout", None).await.status, 204);
        assert!(b.cookie.is_none(), "the logout response clears the cookie");
        assert_eq!(
            whoami(login_on, &cookie).await.0,
            401,
            "the other side sees the session gone"
        );
        assert_eq!(whoami(logout_on, &cookie).await.0, 401);
        assert!(p.store.load(&id_of(&cookie)).await.unwrap().is_none());
    }
}

/// `regenerate` on Node and `cycle_id` on Rust: the new cookie works on both, the old on neither.
pub async fn regenerate_crosses(p: &Pair) {
    for side in [p.node, p.rust] {
        let mut b = Browser::default();
        b.send(
            p.rust,
            "POST",
            "/login",
            Some(json!({"email": "re@example.com"})),
        )
        .await;
        let old = b.cookie.clone().unwrap();
        assert_eq!(b.send(side, "POST", "/regenerate", None).await.status, 200);
        let new = b.cookie.clone().unwrap();
        assert_ne!(id_of(&old), id_of(&new));
        for port in [p.rust, p.node] {
            assert_eq!(
                whoami(port, &new).await,
                (200, json!("re@example.com")),
                "new cookie works everywhere"
            );
            assert_eq!(whoami(port, &old).await.0, 401, "old cookie works nowhere");
        }
    }
}

/// Rust on `[new, old]`, Node on `[old]`: existing cookies keep working on both.
pub async fn rotation(p: &Pair) {
    for issuer in [p.node, p.rust] {
        let mut b = Browser::default();
        b.send(
            issuer,
            "POST",
            "/login",
            Some(json!({"email": "rot@example.com"})),
        )
        .await;
        let cookie = b.cookie.clone().unwrap();
        let r = request(p.rust_rotated, "GET", "/whoami", Some(&cookie), None).await;
        assert_eq!(
            r.status, 200,
            "the rotated Rust app accepts the old-secret cookie"
        );
        assert!(
            r.set_cookies.is_empty(),
            "and does not re-sign it behind Node's back"
        );
        assert_eq!(
            whoami(p.node, &cookie).await.0,
            200,
            "Node still accepts it"
        );
        let r = request(
            p.rust_rotated,
            "POST",
            "/set",
            Some(&cookie),
            Some(&json!({"key": "k", "value": 1})),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            whoami(p.node, &cookie).await.0,
            200,
            "after a Rust write too"
        );
    }
}

fn days_until(t: OffsetDateTime) -> f64 {
    (t - OffsetDateTime::now_utc()).as_seconds_f64() / 86_400.0
}

/// A per-session max age set on one side is honoured by the other's cookie and store TTL.
pub async fn remember_me(p: &Pair) {
    // Rust sets 30 days; Node's next write re-sends a 30-day cookie and keeps a 30-day TTL.
    let mut b = Browser::default();
    b.send(
        p.rust,
        "POST",
        "/login",
        Some(json!({"email": "mem@example.com"})),
    )
    .await;
    let r = b
        .send(p.rust, "POST", "/remember", Some(json!({"days": 30})))
        .await;
    let d = days_until(
        r.cookie_expires()
            .expect("Rust sends the persistent cookie"),
    );
    assert!((29.9..=30.01).contains(&d), "Rust cookie: {d} days");
    let r = b
        .send(
            p.node,
            "POST",
            "/set",
            Some(json!({"key": "x", "value": 1})),
        )
        .await;
    let d = days_until(
        r.cookie_expires()
            .expect("Node sends the persistent cookie"),
    );
    assert!(
        (29.9..=30.01).contains(&d),
        "Node cookie honours Rust's max age: {d} days"
    );
    let id = id_of(b.cookie.as_deref().unwrap());
    let rec = p.store.load(&id).await.unwrap().expect("stored");
    let d = days_until(rec.expires_at);
    assert!(
        (29.9..=30.01).contains(&d),
        "store TTL after Node's write: {d} days"
    );
    // Node sets 7 days; Rust keeps them.
    let mut c = Browser::default();
    c.send(
        p.node,
        "POST",
        "/login",
        Some(json!({"email": "mem2@example.com"})),
    )
    .await;
    let r = c
        .send(p.node, "POST", "/remember", Some(json!({"days": 7})))
        .await;
    let d = days_until(r.cookie_expires().expect("Node cookie"));
    assert!((6.9..=7.01).contains(&d), "{d}");
    assert_eq!(whoami(p.rust, c.cookie.as_deref().unwrap()).await.0, 200);
    let r = c
        .send(
            p.rust,
            "POST",
            "/set",
            Some(json!({"key": "y", "value": 2})),
        )
        .await;
    let d = days_until(
        r.cookie_expires()
            .expect("Rust re-sends the persistent cookie"),
    );
    assert!(
        (6.9..=7.01).contains(&d),
        "Rust cookie honours Node's max age: {d} days"
    );
    let rec = p
        .store
        .load(&id_of(c.cookie.as_deref().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let d = days_until(rec.expires_at);
    assert!(
        (6.9..=7.01).contains(&d),
        "store TTL after Rust's write: {d} days"
    );
    // express-session derives originalMaxAge as `expires - Date.now()` right after setting
    // `expires = Date.now() + maxAge`, so it is a millisecond short when the clock ticks
    // in between; Tessera keeps whatever Node stored.
    let kept = rec.cookie.original_max_age.expect("persistent");
    assert!(
        (7 * 86_400_000 - 5..=7 * 86_400_000).contains(&kept),
        "original max age {kept}"
    );
}

/// Rust's concurrent `update()`s never overwrite Node's writes, and lose nothing to each
/// other. (Node's unconditional writes can still overwrite Rust increments made between a
/// Node request's load and save: see docs/migrating-from-express-session.md.)
pub async fn concurrency(p: &Pair) {
    let mut b = Browser::default();
    b.send(
        p.rust,
        "POST",
        "/login",
        Some(json!({"email": "cc@example.com"})),
    )
    .await;
    let cookie = b.cookie.clone().unwrap();
    let rust = {
        let cookie = cookie.clone();
        let port = p.rust;
        tokio::spawn(async move {
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let cookie = cookie.clone();
                    tokio::spawn(async move {
                        request(port, "POST", "/incr", Some(&cookie), None)
                            .await
                            .status
                    })
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                if t.await.unwrap() == 200 {
                    ok += 1;
                }
            }
            ok
        })
    };
    for i in 0..10 {
        let r = request(
            p.node,
            "POST",
            "/set",
            Some(&cookie),
            Some(&json!({"key": format!("node{i}"), "value": i})),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(rust.await.unwrap(), 100, "every Rust increment succeeded");
    for i in 0..10 {
        let v = request(p.rust, "GET", &format!("/get/node{i}"), Some(&cookie), None).await;
        assert_eq!(
            v.json["value"],
            json!(i),
            "Rust never overwrote Node's key node{i}"
        );
    }
    let n = request(p.rust, "GET", "/get/n", Some(&cookie), None)
        .await
        .json["value"]
        .as_u64()
        .unwrap_or(0);
    // Node saves unconditionally: a Node request that loaded before Rust's (combined)
    // increments and saved after them overwrites them all, so any n in 0..=100 is
    // possible here. What must hold is that Rust never invents increments.
    assert!(n <= 100, "n = {n}");
    // With Node quiet, concurrent Rust updates lose nothing at all.
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cookie = cookie.clone();
            let port = p.rust;
            tokio::spawn(async move {
                request(port, "POST", "/incr", Some(&cookie), None)
                    .await
                    .status
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let n2 = request(p.rust, "GET", "/get/n", Some(&cookie), None)
        .await
        .json["value"]
        .as_u64()
        .unwrap();
    assert_eq!(n2, n + 100, "100 concurrent Rust updates, none lost");
}

/// Every scenario, in order.
pub async fn all(p: &Pair) {
    login_crosses(p).await;
    values_cross(p).await;
    logout_crosses(p).await;
    regenerate_crosses(p).await;
    rotation(p).await;
    remember_me(p).await;
    concurrency(p).await;
}
