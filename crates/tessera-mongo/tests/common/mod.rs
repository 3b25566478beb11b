//! Shared helpers: the server URI, per-test collections that are dropped afterwards, and a
//! small HTTP client for layer tests.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicU64, Ordering};
use tessera_mongo::mongodb::bson::Document;
use tessera_mongo::mongodb::{Client, Collection};
use tessera_mongo::{MongoStore, MongoStoreBuilder, SessionFormat, WebCryptoAdapter};
use tower::ServiceExt;

/// Database all tests use; each test works in its own collection and drops it.
pub const DB: &str = "tessera_mongo_tests";
pub const SECRET: &str = "tessera-mongo test secret, at least thirty-two bytes";

/// `MONGO_URI`, or a printed skip (a panic under `CI=true`).
pub fn mongo_uri() -> Option<String> {
    match std::env::var("MONGO_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ => tessera::testkit::skip("MONGO_URI not set (see crates/tessera-mongo/README.md)"),
    }
}

/// A collection name unique to this process and call.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    )
}

/// A store on a fresh collection; drop the collection with [`Fresh::drop_collection`].
pub struct Fresh {
    pub store: MongoStore,
    pub name: String,
}

impl Fresh {
    pub fn raw(&self) -> Collection<Document> {
        self.store.collection().clone()
    }

    pub async fn drop_collection(self) {
        self.store
            .collection()
            .drop()
            .await
            .expect("drop the test collection");
    }
}

/// The builder every test starts from: the test database and a unique collection.
pub fn builder(uri: &str, name: &str) -> MongoStoreBuilder {
    MongoStore::builder().uri(uri).database(DB).collection(name)
}

pub async fn fresh_with(
    prefix: &str,
    f: impl FnOnce(MongoStoreBuilder) -> MongoStoreBuilder,
) -> Option<Fresh> {
    let uri = mongo_uri()?;
    let name = unique(prefix);
    let store = f(builder(&uri, &name)).build().await.expect("build store");
    Some(Fresh { store, name })
}

pub async fn fresh(prefix: &str) -> Option<Fresh> {
    fresh_with(prefix, |b| b).await
}

pub fn fast_crypto() -> WebCryptoAdapter {
    WebCryptoAdapter::with_params("conformance secret", b"conformance salt", 1_000).unwrap()
}

pub fn with_format(format: SessionFormat) -> impl FnOnce(MongoStoreBuilder) -> MongoStoreBuilder {
    move |b| b.format(format)
}

pub async fn raw_client() -> Option<Client> {
    let uri = mongo_uri()?;
    Some(Client::with_uri_str(&uri).await.expect("client"))
}

/// A response's status and body, and the `id` cookie it set (if any).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: String,
    pub set_cookie: Option<String>,
}

pub async fn send(app: &Router, method: &str, path: &str, cookie: Option<&str>) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let set_cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        set_cookie,
    }
}
