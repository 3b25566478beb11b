//! Shared test helpers: an instrumented store, a test app and a cookie-keeping client.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tessera::{
    MemoryStore, Record, SaveOutcome, Session, SessionConfig, SessionConfigBuilder, SessionId,
    SessionLayer, SessionStore, StoreError,
};
use time::OffsetDateTime;
use tower::ServiceExt;

pub const SECRET: &str = "test secret that is at least thirty-two bytes long";
pub const OLD_SECRET: &str = "old secret, also at least thirty-two bytes long!!";

/// Counts every store call and can be switched to fail.
#[derive(Clone, Default)]
pub struct Counting {
    pub inner: MemoryStore,
    pub counts: Arc<Counts>,
    pub fail: Arc<AtomicBool>,
    /// Fail only writes (create/save/touch/delete).
    pub fail_writes: Arc<AtomicBool>,
    /// Never answer.
    pub hang: Arc<AtomicBool>,
    /// Delay every save by this many milliseconds (a slow store).
    pub save_delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Notified (`notify_waiters`) whenever a save starts.
    pub save_started: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
pub struct Counts {
    pub load: AtomicUsize,
    pub create: AtomicUsize,
    pub save: AtomicUsize,
    pub touch: AtomicUsize,
    pub delete: AtomicUsize,
}

impl Counts {
    pub fn total(&self) -> usize {
        [
            &self.load,
            &self.create,
            &self.save,
            &self.touch,
            &self.delete,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }
    pub fn get(&self, c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }
}

impl Counting {
    pub fn with(inner: MemoryStore) -> Self {
        Self {
            inner,
            ..Default::default()
        }
    }
    fn check(&self, c: &AtomicUsize) -> Result<(), StoreError> {
        c.fetch_add(1, Ordering::SeqCst);
        let write = !std::ptr::eq(c, &self.counts.load);
        if self.fail.load(Ordering::SeqCst) || (write && self.fail_writes.load(Ordering::SeqCst)) {
            Err(StoreError::unavailable("injected failure"))
        } else {
            Ok(())
        }
    }
    async fn gate(&self, c: &AtomicUsize) -> Result<(), StoreError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.check(c)
    }
}

impl SessionStore for Counting {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.gate(&self.counts.load).await?;
        self.inner.load(id).await
    }
    async fn create(&self, r: &Record) -> Result<u64, StoreError> {
        self.gate(&self.counts.create).await?;
        self.inner.create(r).await
    }
    async fn save(&self, r: &Record) -> Result<SaveOutcome, StoreError> {
        self.gate(&self.counts.save).await?;
        self.save_started.notify_waiters();
        let delay = self.save_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.inner.save(r).await
    }
    async fn touch(&self, id: &SessionId, e: OffsetDateTime) -> Result<bool, StoreError> {
        self.gate(&self.counts.touch).await?;
        self.inner.touch(id, e).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.gate(&self.counts.delete).await?;
        self.inner.delete(id).await
    }
    async fn list_by_user(&self, u: &str) -> Result<Vec<Record>, StoreError> {
        self.inner.list_by_user(u).await
    }
    async fn delete_by_user(&self, u: &str, e: Option<&SessionId>) -> Result<u64, StoreError> {
        self.inner.delete_by_user(u, e).await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<tessera::ScanPage, StoreError> {
        self.inner.scan(cursor, limit).await
    }
}

pub fn config() -> SessionConfigBuilder {
    SessionConfig::builder().secret(SECRET)
}

async fn get_key(
    s: Session,
    Path(key): Path<String>,
) -> Result<axum::response::Response, tessera::Error> {
    use axum::response::IntoResponse;
    Ok(match s.get::<Value>(&key).await? {
        Some(v) => axum::Json(v).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

async fn set_key(
    s: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<&'static str, tessera::Error> {
    s.insert(&key, value).await?;
    Ok("ok")
}

async fn incr(s: Session) -> Result<String, tessera::Error> {
    Ok(s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
        .await?
        .to_string())
}

async fn login(s: Session, Path(user): Path<String>) -> Result<&'static str, tessera::Error> {
    s.cycle_id().await?;
    s.set_user(user.clone()).await?;
    s.insert("user", user).await?;
    Ok("ok")
}

/// The routes every layer test uses.
pub fn routes() -> Router {
    Router::new()
        .route("/none", get(|| async { "none" }))
        .route("/get/{key}", get(get_key))
        .route("/set/{key}/{value}", post(set_key))
        .route("/incr", post(incr))
        .route("/login/{user}", post(login))
        .route(
            "/whoami",
            get(|s: Session| async move { s.user().await.map(|u| u.unwrap_or_default()) }),
        )
        .route(
            "/regenerate",
            post(|s: Session| async move { s.regenerate().await.map(|_| "ok") }),
        )
        .route(
            "/cycle",
            post(|s: Session| async move { s.cycle_id().await.map(|_| "ok") }),
        )
        .route(
            "/destroy",
            post(|s: Session| async move { s.destroy().await.map(|_| "ok") }),
        )
        .route(
            "/clear",
            post(|s: Session| async move { s.clear().await.map(|_| "ok") }),
        )
        .route(
            "/touch",
            post(|s: Session| async move { s.touch().await.map(|_| "ok") }),
        )
        .route(
            "/remember",
            post(|s: Session| async move {
                s.set_max_age(Some(Duration::from_secs(30 * 86400)))
                    .await
                    .map(|_| "ok")
            }),
        )
        .route(
            "/forget",
            post(|s: Session| async move { s.set_max_age(None).await.map(|_| "ok") }),
        )
        .route(
            "/cycle-then-500",
            post(|s: Session| async move {
                s.cycle_id().await?;
                s.insert("x", 1).await?;
                Ok::<_, tessera::Error>((StatusCode::INTERNAL_SERVER_ERROR, "boom"))
            }),
        )
        .route(
            "/save-then-500",
            post(|s: Session| async move {
                s.insert("saved", true).await?;
                s.save().await?;
                Ok::<_, tessera::Error>((StatusCode::INTERNAL_SERVER_ERROR, "boom"))
            }),
        )
        .route(
            "/read-ignore-error",
            get(|s: Session| async move {
                // A handler that swallows the store error and answers 200 anyway.
                let _ = s.get::<Value>("n").await;
                "ok"
            }),
        )
}

pub fn app<S: SessionStore>(store: S, config: SessionConfig) -> Router {
    routes().layer(SessionLayer::new(store, config))
}

/// A response, with its Set-Cookie headers and body.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub set_cookies: Vec<String>,
    pub headers: http::HeaderMap,
    pub body: String,
    /// Set when the layer replaced the response because the session could not be written.
    pub failure: Option<tessera::SessionFailure>,
}

impl Resp {
    pub fn cookie(&self) -> Option<&str> {
        self.set_cookies.first().map(String::as_str)
    }
}

/// Sends one request with an optional Cookie header.
pub async fn send(app: &Router, method: &str, path: &str, cookie: Option<&str>) -> Resp {
    send_with(app, method, path, cookie, &[]).await
}

pub async fn send_with(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let failure = res.extensions().get::<tessera::SessionFailure>().copied();
    let headers = res.headers().clone();
    let set_cookies = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Resp {
        status,
        set_cookies,
        headers,
        body,
        failure,
    }
}

/// `name=value` of a Set-Cookie header.
pub fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// A client that keeps the session cookie like a browser would.
pub struct Client {
    pub app: Router,
    pub cookie: Option<String>,
}

impl Client {
    pub fn new(app: Router) -> Self {
        Self { app, cookie: None }
    }
    pub async fn req(&mut self, method: &str, path: &str) -> Resp {
        let r = send(&self.app, method, path, self.cookie.as_deref()).await;
        for c in &r.set_cookies {
            if c.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(pair(c));
            }
        }
        r
    }
}

/// The session id inside a `name=s%3A<id>.<sig>` cookie pair.
pub fn id_of(pair: &str) -> SessionId {
    let v = pair.split_once('=').unwrap().1;
    let v = percent_decode(v);
    let (id, _) = v.strip_prefix("s:").unwrap().rsplit_once('.').unwrap();
    SessionId::parse(id).unwrap()
}

fn percent_decode(s: &str) -> String {
    s.replace("%3A", ":")
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=")
}
