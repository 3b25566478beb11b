//! The layer's overhead: a no-op handler with and without the session layer, and the
//! session paths (read, write) on the in-memory store.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use tessera::{MemoryStore, Session, SessionConfig, SessionLayer};
use tower::ServiceExt;

fn request(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().uri(path);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.body(Body::empty()).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let routes = || {
        Router::new()
            .route("/none", get(|| async { "none" }))
            .route(
                "/read",
                get(|s: Session| async move {
                    s.get::<String>("user")
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                }),
            )
            .route(
                "/incr",
                get(|s: Session| async move {
                    s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
                        .await
                        .map(|n| n.to_string())
                }),
            )
            .route(
                "/login",
                get(|s: Session| async move {
                    s.insert("user", "bench").await?;
                    s.insert("n", 0).await.map(|_| "ok")
                }),
            )
    };
    let bare = routes();
    let config = SessionConfig::builder()
        .secret("a benchmark secret of at least thirty-two bytes")
        .build()
        .unwrap();
    let with_layer = routes().layer(SessionLayer::new(MemoryStore::default(), config));
    let cookie = rt.block_on(async {
        let res = with_layer
            .clone()
            .oneshot(request("/login", None))
            .await
            .unwrap();
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    });
    let mut g = c.benchmark_group("layer");
    g.bench_function("no_layer/none", |b| {
        b.to_async(&rt)
            .iter(|| bare.clone().oneshot(request("/none", Some(&cookie))))
    });
    g.bench_function("layer/none", |b| {
        b.to_async(&rt)
            .iter(|| with_layer.clone().oneshot(request("/none", Some(&cookie))))
    });
    g.bench_function("layer/read", |b| {
        b.to_async(&rt)
            .iter(|| with_layer.clone().oneshot(request("/read", Some(&cookie))))
    });
    g.bench_function("layer/incr", |b| {
        b.to_async(&rt)
            .iter(|| with_layer.clone().oneshot(request("/incr", Some(&cookie))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
