//! Shared test helpers: unique table names, stores that drop their table when the last
//! clone goes away, the layer kit through a cuttable proxy and the unreachable-database check.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http;
use axum::routing::get;
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera::{
    Record, SaveOutcome, Session, SessionConfig, SessionId, SessionLayer, SessionStore, StoreError,
};
use time::OffsetDateTime;
use tower::ServiceExt;

pub const SECRET: &str = "tessera-sql test secret, at least thirty-two bytes";

/// A table name no other test run uses: `tessera_test_<16 hex digits>`.
pub fn table_name() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("OS random source");
    format!("tessera_test_{:016x}", u64::from_le_bytes(b))
}

/// Runs `cleanup` on a fresh thread and runtime when dropped (also after a panic), so a
/// test's table is removed even though `Drop` cannot await.
pub struct Cleanup(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Cleanup {
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        Self(std::sync::Mutex::new(Some(Box::new(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(f());
        }))))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let f = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(f) = f {
            let _ = std::thread::spawn(f).join();
        }
    }
}

/// A store plus the cleanup of its table, dropped with the last clone.
#[derive(Clone)]
pub struct Owned<S> {
    pub store: S,
    pub table: String,
    _cleanup: Arc<Cleanup>,
}

impl<S> Owned<S> {
    pub fn new(store: S, table: String, cleanup: Cleanup) -> Self {
        Self {
            store,
            table,
            _cleanup: Arc::new(cleanup),
        }
    }
}

impl<S: SessionStore> SessionStore for Owned<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.store.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        self.store.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        self.store.save(record).await
    }
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        self.store.touch(id, expires_at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.store.delete(id).await
    }
    async fn list_by_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        self.store.list_by_user(user).await
    }
    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        self.store.delete_by_user(user, except).await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.store.count().await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<tessera::ScanPage, StoreError> {
        self.store.scan(cursor, limit).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.store.delete_expired().await
    }
}

fn config() -> SessionConfig {
    SessionConfig::builder()
        .secret(SECRET)
        // 200 requests racing on one row: allow enough replays for every one to land.
        .max_attempts(1_000)
        .store_timeout(Duration::from_secs(30))
        .build()
        .expect("valid config")
}

/// A router with `GET /inc` (increments `n`) and `GET /n` (reads it).
pub fn counter_app<S: SessionStore>(store: S) -> Router {
    Router::new()
        .route(
            "/inc",
            get(|s: Session| async move {
                let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
                Ok::<_, tessera::Error>(n.to_string())
            }),
        )
        .route(
            "/n",
            get(|s: Session| async move {
                let n = s.get::<u64>("n").await?;
                Ok::<_, tessera::Error>(n.unwrap_or(0).to_string())
            }),
        )
        .layer(SessionLayer::new(store, config()))
}

pub struct Resp {
    pub status: http::StatusCode,
    pub body: String,
    pub cookie: Option<String>,
}

pub async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Resp {
    let mut req = http::Request::get(path);
    if let Some(c) = cookie {
        req = req.header(http::header::COOKIE, c);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible router");
    let status = res.status();
    let cookie = res
        .headers()
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        cookie,
    }
}

/// A store pointed at a closed port: the layer answers 503 within the acquire timeout
/// (plus slack), and the store reports a timeout or unavailability, never a panic.
pub async fn unreachable_answers_503<S: SessionStore + Clone>(store: S, acquire_timeout: Duration) {
    let started = Instant::now();
    let err = store
        .load(&SessionId::generate())
        .await
        .expect_err("no database there");
    assert!(
        matches!(err, StoreError::Timeout(_) | StoreError::Unavailable(_)),
        "{err:?}"
    );
    assert!(started.elapsed() < acquire_timeout + Duration::from_millis(1500));
    let app = counter_app(store);
    let started = Instant::now();
    let r = send(&app, "/inc", None).await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.cookie.is_none(),
        "no cookie for a session that was not stored"
    );
    assert!(
        took < acquire_timeout + Duration::from_millis(1500),
        "503 took {took:?} with an acquire timeout of {acquire_timeout:?}"
    );
}

/// A local TCP port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// `host:port` of a URL's authority (with `default_port` when it names none).
pub fn host_port(url: &str, default_port: u16) -> String {
    let after_scheme = url.split("://").nth(1).unwrap_or(url);
    let host_port = after_scheme
        .rsplit('@')
        .next()
        .unwrap_or(after_scheme)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    }
}

/// `url` with its host and port replaced by `127.0.0.1:<port>` (to go through a proxy).
pub fn with_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (user, rest) = match rest.split_once('@') {
        Some((u, r)) => (format!("{u}@"), r),
        None => (String::new(), rest),
    };
    let tail = rest.find(['/', '?']).map_or("", |i| &rest[i..]);
    format!("{scheme}://{user}127.0.0.1:{port}{tail}")
}

/// The layer test kit on the table of `owned` (which lives, and is dropped, with the
/// kit), through a cuttable proxy in front of the shared server (the outage check cuts
/// it). `open(url, table)` builds one more store (app instance) on that URL and table.
pub async fn proxied_kit<O, S, F>(
    url: &str,
    default_port: u16,
    owned: Owned<O>,
    open: F,
) -> tessera::testkit::layer::Kit
where
    O: Send + Sync + 'static,
    S: SessionStore,
    F: Fn(&str, &str) -> S + Send + Sync + 'static,
{
    let proxy = Arc::new(
        tessera::testkit::proxy::TcpCut::start(&host_port(url, default_port))
            .await
            .expect("start proxy"),
    );
    let proxied = with_port(url, proxy.port());
    tessera::testkit::layer::Kit::new(move || {
        // `&owned` (not just `owned.table`) so the closure owns the whole `Owned`: its
        // cleanup drops the table, which must outlive the kit.
        let owned = &owned;
        let store = tessera::BoxedStore::new(open(&proxied, &owned.table));
        async move { store }
    })
    .outage(proxy)
}

/// Whether `host:port` accepts TCP connections (to skip when a server is not running).
pub fn reachable(url: &str, default_port: u16) -> bool {
    let addr = host_port(url, default_port);
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

/// A Node app writes the session (through `node_write`, as its store library does) while
/// a Tessera request that loaded it is still running: the request's save conflicts,
/// reloads and replays its own change, so both writes survive.
pub async fn node_write_during_a_request_survives<S, F, Fut>(store: S, node_write: F)
where
    S: SessionStore + Clone,
    F: Fn(SessionId) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_in_handler = seen.clone();
    let race = Router::new()
        .route(
            "/race",
            get(move |s: Session| {
                let node_write = node_write.clone();
                let seen = seen_in_handler.clone();
                async move {
                    let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
                    let id = s.id().await?;
                    *seen.lock().unwrap() = Some(id.clone());
                    node_write(id).await;
                    Ok::<_, tessera::Error>(n.to_string())
                }
            }),
        )
        .layer(SessionLayer::new(store.clone(), config()));
    let app = counter_app(store.clone());
    let created = send(&app, "/inc", None).await;
    let cookie = created.cookie.expect("session cookie");
    let r = send(&race, "/race", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(send(&app, "/n", Some(&cookie)).await.body, "2");
    let id = seen.lock().unwrap().clone().expect("the handler ran");
    let got = store.load(&id).await.unwrap().expect("session");
    assert_eq!(
        got.data["cart"],
        serde_json::json!(["apple"]),
        "Node's write is kept"
    );
    assert_eq!(
        got.data["n"],
        serde_json::json!(2),
        "Tessera's write is kept"
    );
}
