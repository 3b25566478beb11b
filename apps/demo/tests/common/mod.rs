//! Test harness: the real site on a random port, and an HTTP client with a cookie jar.
#![allow(dead_code)]

use http::HeaderMap;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera::BoxedStore;
use tessera_demo::{App, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &str = "integration-test secret of at least thirty-two bytes";
pub const PASSWORD: &str = "correct horse battery";

/// The session stores the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
    Redis,
    Mongo,
    Mysql,
}

/// A temporary folder, removed on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new() -> Self {
        Self(
            tempfile::Builder::new()
                .prefix("tessera-demo-")
                .tempdir()
                .expect("temp dir"),
        )
    }

    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

pub fn token() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", token())
}

/// This run's own database (PostgreSQL, MySQL, MongoDB) or key prefix (Redis) on a shared
/// server, removed when the server is dropped: tests never write into other data and never
/// drop what they did not create.
#[derive(Default)]
pub struct Namespace {
    sql: Option<(String, String)>,
    redis: Option<(String, String)>,
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let root = match base
        .find("://")
        .map(|i| i + 3)
        .and_then(|s| base[s..].find('/').map(|p| s + p))
    {
        Some(slash) => &base[..slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

impl Namespace {
    /// Creates a database named after this run on the server at `url`; returns its URL.
    async fn sql_database(&mut self, url: &str) -> Result<String, String> {
        use sqlx::Connection as _;
        let db = format!("tessera_demo_{}", token());
        let create = format!("CREATE DATABASE {db}");
        if url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(&create)
                .execute(&mut c)
                .await
                .map_err(|e| e.to_string())?;
        } else {
            let mut c = tessera_sql::sqlx::MySqlConnection::connect(url)
                .await
                .map_err(|e| e.to_string())?;
            tessera_sql::sqlx::query(&create)
                .execute(&mut c)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.sql = Some((url.to_owned(), db.clone()));
        Ok(with_db(url, &db))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let (sql, redis) = (self.sql.take(), self.redis.take());
        if sql.is_none() && redis.is_none() {
            return;
        }
        // Drop may run inside or outside a runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::Connection as _;
                if let Some((url, db)) = sql {
                    if url.starts_with("postgres") {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                            let _ =
                                sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                                    .execute(&mut c)
                                    .await;
                        }
                    } else if let Ok(mut c) =
                        tessera_sql::sqlx::MySqlConnection::connect(&url).await
                    {
                        let _ = tessera_sql::sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                            .execute(&mut c)
                            .await;
                    }
                }
                if let Some((url, prefix)) = redis {
                    let _ = delete_redis_prefix(&url, &prefix).await;
                }
            });
        })
        .join();
    }
}

async fn delete_redis_prefix(
    url: &str,
    prefix: &str,
) -> Result<(), tessera_redis::redis::RedisError> {
    use tessera_redis::redis;
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Points `config` at this run's own namespace on shared servers (see [`Namespace`]).
async fn isolate(backend: Backend, config: &mut Config) -> Result<Namespace, String> {
    let mut ns = Namespace::default();
    match backend {
        Backend::Postgres => {
            let url = ns.sql_database(&config.session_store).await?;
            config.session_store = url.clone();
            config.user_db = url;
        }
        Backend::Mysql => config.session_store = ns.sql_database(&config.session_store).await?,
        Backend::Redis => {
            let base = format!("tessera_demo_{}:", token());
            ns.redis = Some((config.session_store.clone(), base.clone()));
            config.session_store = format!(
                "{}/?prefix={base}sess:",
                config.session_store.trim_end_matches('/')
            );
        }
        Backend::Mongo => {
            let db = format!("tessera_demo_{}", token());
            config.session_store = with_db(&config.session_store, &db);
        }
        Backend::Memory | Backend::Sqlite => {}
    }
    Ok(ns)
}

/// The configuration for `backend` in `dir` (the services' URLs from the environment, or
/// the loopback defaults), or `None` (with a printed reason, or a panic under CI=true)
/// when MongoDB is not configured (`MONGO_URI`).
pub fn config_for(backend: Backend, dir: &TempDir) -> Option<Config> {
    let sqlite = format!("sqlite://{}/tessera-demo.db", dir.path().display());
    let (store, users) = match backend {
        Backend::Memory => ("memory".to_owned(), sqlite.clone()),
        Backend::Sqlite => (sqlite.clone(), sqlite.clone()),
        Backend::Postgres => {
            // The same loopback default as the store crates' tests; an unreachable
            // server is a printed skip (a failure under CI=true) in `start`.
            let url = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            (url.clone(), url)
        }
        Backend::Redis => {
            // The same loopback default as the store crates' tests; an unreachable
            // server is a printed skip (a failure under CI=true) in `start`.
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            (url, sqlite.clone())
        }
        Backend::Mysql => {
            // The same loopback default as the store crates' tests; an unreachable
            // server is a printed skip (a failure under CI=true) in `start`.
            let url = std::env::var("MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
            (url, sqlite.clone())
        }
        Backend::Mongo => {
            let Ok(url) = std::env::var("MONGO_URI") else {
                return tessera::testkit::skip("MONGO_URI is not set (MongoDB)");
            };
            (url, sqlite.clone())
        }
    };
    Some(Config {
        host: "127.0.0.1".into(),
        port: 0,
        session_store: store,
        user_db: users,
        session_secret: Some(SECRET.into()),
        data_dir: dir.path().join("data"),
        ..Config::default()
    })
}

/// A running site.
pub struct Server {
    pub base: String,
    pub dir: Option<TempDir>,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// Dropped last: this run's database or key prefix.
    pub namespace: Namespace,
}

impl Server {
    /// Stops the server (graceful shutdown) and hands back its folder.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(r) => r.expect("server task").expect("server result"),
                Err(_) => panic!("server did not shut down within 10 s"),
            }
        }
        self.dir.take().expect("the folder")
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the site for `backend` with `tweak` applied to its configuration.
pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Server> {
    // Warnings (store errors and the like) show up in a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let dir = TempDir::new();
    let mut config = config_for(backend, &dir)?;
    let ns = match isolate(backend, &mut config).await {
        Ok(ns) => ns,
        Err(e) => return tessera::testkit::skip(&format!("{backend:?} unreachable: {e}")),
    };
    tweak(&mut config);
    match App::build(config.clone()).await {
        Ok(app) => {
            let mut server = run(app, config, dir).await;
            server.namespace = ns;
            Some(server)
        }
        Err(e) if !matches!(backend, Backend::Memory | Backend::Sqlite) => {
            tessera::testkit::skip(&format!("{backend:?} unreachable: {e:#}"))
        }
        Err(e) => panic!("the site did not start: {e:#}"),
    }
}

/// Starts the site in an existing folder (restart tests).
pub async fn start_in(config: Config, dir: TempDir) -> Server {
    let app = App::build(config.clone()).await.expect("site starts");
    run(app, config, dir).await
}

/// Starts the site on a given store.
pub async fn start_with_store(store: BoxedStore) -> Server {
    let dir = TempDir::new();
    let config = config_for(Backend::Memory, &dir).expect("memory config");
    let app = App::with_store(config.clone(), store)
        .await
        .expect("site starts");
    run(app, config, dir).await
}

async fn run(app: App, config: Config, dir: TempDir) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(tessera_demo::serve(
        listener,
        app.router,
        config.limits(),
        async move {
            let _ = rx.await;
        },
    ));
    Server {
        base: format!("http://{addr}"),
        dir: Some(dir),
        config,
        shutdown: Some(tx),
        task: Some(task),
        namespace: Namespace::default(),
    }
}

/// A response, read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }
    /// The `Set-Cookie` for the session cookie `id`.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with("id="))
    }
    pub fn location(&self) -> Option<String> {
        self.header("location")
    }
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        csrf_in(&self.body).unwrap_or_else(|| panic!("no CSRF field in {:?}", self.body))
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The session id inside a signed cookie value (`s%3A<id>.<signature>`).
pub fn id_of(cookie_value: &str) -> String {
    let v = cookie_value.replace("%3A", ":");
    let v = v.strip_prefix("s:").expect("signed value");
    v.rsplit_once('.').expect("signature").0.to_owned()
}

pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An HTTP client with its own cookie jar (so tests can read, copy and replay cookies),
/// no redirects followed. Clones share the jar.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    jar: Arc<Mutex<BTreeMap<String, String>>>,
    pub user_agent: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self::with_agent(
            base,
            "integration-test/1.0 (X11; Linux x86_64) Firefox/128.0",
        )
    }

    pub fn with_agent(base: &str, ua: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            base: base.to_owned(),
            jar: Arc::new(Mutex::new(BTreeMap::new())),
            user_agent: ua.to_owned(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn clear_cookies(&self) {
        self.jar.lock().unwrap().clear();
    }

    /// A request with the jar's cookies; `send` stores the answer's cookies.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("user-agent", &self.user_agent);
        let cookies: Vec<String> = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookies.is_empty() {
            rb = rb.header("cookie", cookies.join("; "));
        }
        rb
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let res = rb.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.expect("body");
        let resp = Resp {
            status,
            headers,
            body,
        };
        let mut jar = self.jar.lock().unwrap();
        for c in resp.set_cookies() {
            let first = c.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let removed = value.is_empty()
                || c.split(';')
                    .any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if removed {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        resp
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(pairs)),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Resp {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// `POST /api/register`, asserting 201.
    pub async fn register(&self, email: &str) -> Resp {
        let r = self
            .post_json(
                "/api/register",
                serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r
    }

    /// `POST /api/login`, asserting 200.
    pub async fn login(&self, email: &str, remember: bool) -> Resp {
        let r = self
            .post_json(
                "/api/login",
                serde_json::json!({"email": email, "password": PASSWORD, "remember": remember}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r
    }

    /// Logs in through the login page (GET for the CSRF token, then POST).
    pub async fn login_page(&self, email: &str, password: &str, remember: bool) -> Resp {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        let mut pairs = vec![("email", email), ("password", password), ("csrf", &csrf)];
        if remember {
            pairs.push(("remember", "1"));
        }
        self.post_form("/login", &pairs).await
    }
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
