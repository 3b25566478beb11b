//! The core's layer test kit (`tessera::layer_tests!`) on Redis, the Redis Cluster, and a
//! private redis-server that the outage check kills (`kill -9`) and restarts.

mod common;

use common::{Fresh, Server, Target, unique_prefix};
use std::sync::Arc;
use tessera::BoxedStore;
use tessera::testkit::layer::{Kit, Outage};
use tessera_redis::RedisStore;

/// A kit on a fresh prefix of `target`; every handle is a separate store (connection).
async fn kit(target: Option<Target>) -> Option<Kit> {
    kit_with(target, 0).await
}

/// Like [`kit`], each store with a near cache of `near` entries (0: none).
async fn kit_with(target: Option<Target>, near: usize) -> Option<Kit> {
    let target = Arc::new(target?);
    let fresh = Fresh::new(&target, |b| b).await;
    let prefix = fresh.prefix.clone();
    Some(
        Kit::new(move || {
            let (target, prefix) = (Arc::clone(&target), prefix.clone());
            async move {
                BoxedStore::new(
                    target
                        .builder()
                        .prefix(&prefix)
                        .near_cache(near)
                        .build()
                        .await
                        .expect("build store"),
                )
            }
        })
        .cleanup(fresh.cleanup()),
    )
}

mod single {
    use super::*;
    tessera::layer_tests!(kit(Target::single().await));
}

mod cluster {
    use super::*;
    tessera::layer_tests!(kit(Target::cluster()));
}

mod single_near_cache {
    use super::*;
    tessera::layer_tests!(kit_with(Target::single().await, 1000));
}

mod cluster_near_cache {
    use super::*;
    tessera::layer_tests!(kit_with(Target::cluster(), 1000));
}

/// The private server behind the outage check.
struct Private(Arc<tokio::sync::Mutex<Server>>);

impl Outage for Private {
    fn stop(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let server = Arc::clone(&self.0);
        Box::pin(async move { server.lock().await.kill() })
    }
    fn start(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let server = Arc::clone(&self.0);
        Box::pin(async move { server.lock().await.restart().await })
    }
}

async fn private_kit() -> Option<Kit> {
    let server = Server::start().await?;
    let url = server.url();
    let private = Private(Arc::new(tokio::sync::Mutex::new(server)));
    let prefix = unique_prefix();
    Some(
        Kit::new(move || {
            let (url, prefix) = (url.clone(), prefix.clone());
            async move {
                BoxedStore::new(
                    RedisStore::builder()
                        .url(url)
                        .prefix(prefix)
                        .command_timeout(std::time::Duration::from_millis(500))
                        .build()
                        .await
                        .expect("build store"),
                )
            }
        })
        // The server (and its files) go when the kit is dropped.
        .outage(private),
    )
}

mod private_server {
    use super::*;
    tessera::layer_tests!(outage only private_kit());
}
