//! Generates one test per interop scenario for a store.
#[macro_export]
macro_rules! interop_tests {
    ($setup:path) => {
        $crate::interop_tests!(@each $setup; login_crosses, values_cross, logout_crosses, regenerate_crosses, rotation, remember_me, concurrency);
    };
    (@each $setup:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(reason) = tessera_interop::node::unavailable() {
                    let _ = tessera::testkit::skip::<()>(&reason);
                    return;
                }
                let Some(env) = $setup().await else { return };
                tessera_interop::scenarios::$name(&env.pair).await;
                env.cleanup().await;
            }
        )*
    };
}

/// Deletes this run's sessions and user indexes (`<namespace>:sess:…`) through the
/// store's own `clear()` (SCAN + DEL of its keys only; the shared server is never flushed).
#[allow(dead_code)]
pub async fn delete_redis_namespace(url: &str, namespace: &str) {
    let store = tessera_redis::RedisStore::builder()
        .url(url)
        .prefix(format!("{namespace}:sess:"))
        .build();
    if let Ok(store) = store.await {
        let _ = store.clear().await;
    }
}
