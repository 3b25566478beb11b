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
