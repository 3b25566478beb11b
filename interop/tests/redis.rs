//! express-session + connect-redis and Tessera's RedisStore on one Redis, one key prefix;
//! again with Tessera's near cache on (Node's writes and deletes reach the cache through
//! Redis's invalidations).

mod common;

use tessera::BoxedStore;
use tessera_interop::node::NodeApp;
use tessera_interop::scenarios::Pair;
use tessera_interop::{SECRET, unique};
use tessera_redis::RedisStore;

struct Env {
    pair: Pair,
    url: String,
    namespace: String,
    _node: NodeApp,
}

impl Env {
    /// Deletes this run's keys, sessions and user index (the shared Redis is never flushed).
    async fn cleanup(self) {
        common::delete_redis_namespace(&self.url, &self.namespace).await;
    }
}

async fn setup() -> Option<Env> {
    setup_with(0).await
}

async fn setup_cached() -> Option<Env> {
    setup_with(1000).await
}

async fn setup_with(near_cache: usize) -> Option<Env> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let namespace = unique("tessera_interop");
    let prefix = format!("{namespace}:sess:");
    let store = match RedisStore::builder()
        .url(url.clone())
        .prefix(prefix.clone())
        .near_cache(near_cache)
        .build()
        .await
    {
        Ok(s) => s,
        Err(e) => return tessera::testkit::skip(&format!("Redis unavailable at {url}: {e}")),
    };
    let node = NodeApp::start(
        "redis",
        &[SECRET],
        &[("REDIS_URL", url.clone()), ("REDIS_PREFIX", prefix.clone())],
    )
    .await;
    let boxed = BoxedStore::new(store);
    let pair = Pair::serve(boxed, node.port).await;
    Some(Env {
        pair,
        url,
        namespace,
        _node: node,
    })
}

interop_tests!(setup);

mod near_cache {
    use super::*;
    interop_tests!(setup_cached);
}

/// Issue 12: a Node app on a tutorial's short secret (`'keyboard cat'`) shares live
/// sessions with Tessera (`ShortSecrets::Sign`), and the documented move to a long secret
/// keeps them: both apps get `[LONG, 'keyboard cat']`, old cookies still verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_node_secret_and_the_move_to_a_long_one() {
    use serde_json::json;
    use tessera::{SessionConfig, ShortSecrets};
    use tessera_interop::http::Browser;
    const SHORT: &str = "keyboard cat";
    const LONG: &str = "the long secret both apps move to - 32+ bytes";
    if let Some(reason) = tessera_interop::node::unavailable() {
        let _ = tessera::testkit::skip::<()>(&reason);
        return;
    }
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let namespace = unique("tessera_interop_short");
    let prefix = format!("{namespace}:sess:");
    let store = match RedisStore::builder()
        .url(url.clone())
        .prefix(prefix.clone())
        .build()
        .await
    {
        Ok(s) => BoxedStore::new(s),
        Err(e) => {
            let _ = tessera::testkit::skip::<()>(&format!("Redis unavailable at {url}: {e}"));
            return;
        }
    };
    let node_env = [("REDIS_URL", url.clone()), ("REDIS_PREFIX", prefix.clone())];
    let node = NodeApp::start("redis", &[SHORT], &node_env).await;
    // Without saying so, Tessera refuses to sign with the short secret.
    assert!(
        SessionConfig::express_compat()
            .secret(SHORT)
            .build()
            .is_err()
    );
    let config = |b: tessera::SessionConfigBuilder| b.build().expect("valid config");
    let rust = tessera_interop::app::serve_with(
        store.clone(),
        config(
            SessionConfig::express_compat()
                .secret(SHORT)
                .short_secrets(ShortSecrets::Sign),
        ),
    )
    .await;
    let whoami = |port: u16, cookie: String| async move {
        let r = tessera_interop::http::request(port, "GET", "/whoami", Some(&cookie), None).await;
        (r.status, r.json["user"]["email"].clone())
    };
    let login = |port: u16, email: &'static str| async move {
        let mut b = Browser::default();
        let r = b
            .send(port, "POST", "/login", Some(json!({"email": email})))
            .await;
        assert_eq!(r.status, 200);
        b.cookie.expect("a session cookie")
    };

    // Step 1: both sign with the short secret; a login on either side is one on both.
    let from_node = login(node.port, "node@example.com").await;
    assert_eq!(
        whoami(rust, from_node.clone()).await,
        (200, json!("node@example.com"))
    );
    let from_rust = login(rust, "rust@example.com").await;
    assert_eq!(
        whoami(node.port, from_rust.clone()).await,
        (200, json!("rust@example.com"))
    );

    // Step 2: both move to [LONG, SHORT] (verify-only is express_compat's default).
    drop(node);
    let node = NodeApp::start("redis", &[LONG, SHORT], &node_env).await;
    let rust = tessera_interop::app::serve_with(
        store.clone(),
        config(SessionConfig::express_compat().secret(LONG).secret(SHORT)),
    )
    .await;
    for (cookie, email) in [
        (&from_node, "node@example.com"),
        (&from_rust, "rust@example.com"),
    ] {
        assert_eq!(whoami(rust, cookie.clone()).await, (200, json!(email)));
        assert_eq!(whoami(node.port, cookie.clone()).await, (200, json!(email)));
    }
    let fresh = login(rust, "new@example.com").await;
    assert_eq!(
        whoami(node.port, fresh).await,
        (200, json!("new@example.com")),
        "Node reads cookies signed with the long secret"
    );
    common::delete_redis_namespace(&url, &namespace).await;
}
