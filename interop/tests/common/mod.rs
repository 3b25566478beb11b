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

/// Deletes this run's Redis keys (`<namespace>:*`); the shared server is never flushed.
#[allow(dead_code)]
pub async fn delete_redis_namespace(url: &str, namespace: &str) {
    use tessera_redis::redis;
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let reply: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{namespace}:*"))
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await;
        let Ok((next, batch)) = reply else { break };
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}
