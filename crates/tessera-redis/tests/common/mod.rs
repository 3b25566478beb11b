//! Shared helpers: server URLs (or a printed skip), stores on unique prefixes that are
//! cleared afterwards, private `redis-server` processes, and a small HTTP client.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tessera::{Session, SessionConfig, SessionLayer};
use tessera_redis::{RedisStore, RedisStoreBuilder};
use tower::ServiceExt;

pub const SECRET: &str = "tessera-redis test secret, at least thirty-two bytes";

/// `REDIS_URL` (default `redis://127.0.0.1:6379`) if a server answers there, else a
/// printed skip (a panic under `CI=true`).
pub async fn redis_url() -> Option<String> {
    let url = std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    match RedisStore::builder().url(&url).build().await {
        Ok(_) => Some(url),
        Err(e) => tessera::testkit::skip(&format!("no Redis at {url}: {e}")),
    }
}

/// `REDIS_CLUSTER_URLS` (comma-separated seed nodes), or a printed skip.
pub fn cluster_urls() -> Option<Vec<String>> {
    match std::env::var("REDIS_CLUSTER_URLS") {
        Ok(v) if !v.trim().is_empty() => Some(v.split(',').map(|s| s.trim().to_owned()).collect()),
        _ => tessera::testkit::skip(
            "REDIS_CLUSTER_URLS not set (.ci/services/20-redis-cluster.sh starts a cluster)",
        ),
    }
}

/// A key prefix unique to this process and call: `tt:<pid>-<n>-<random>:sess:`.
pub fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut r = [0u8; 4];
    getrandom::fill(&mut r).unwrap();
    format!(
        "tt:{}-{}-{:08x}:sess:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        u32::from_le_bytes(r)
    )
}

/// Where a test store lives.
#[derive(Clone, Debug)]
pub enum Target {
    Single(String),
    Cluster(Vec<String>),
}

impl Target {
    pub async fn single() -> Option<Self> {
        redis_url().await.map(Self::Single)
    }

    pub fn cluster() -> Option<Self> {
        cluster_urls().map(Self::Cluster)
    }

    pub fn builder(&self) -> RedisStoreBuilder {
        match self {
            Self::Single(url) => RedisStore::builder().url(url),
            Self::Cluster(nodes) => RedisStore::builder().cluster(nodes.clone()),
        }
    }
}

/// A store on a fresh prefix; [`Fresh::cleanup`] deletes its keys.
pub struct Fresh {
    pub store: RedisStore,
    pub prefix: String,
}

impl Fresh {
    pub async fn new(
        target: &Target,
        f: impl FnOnce(RedisStoreBuilder) -> RedisStoreBuilder,
    ) -> Self {
        let prefix = unique_prefix();
        let store = f(target.builder().prefix(&prefix))
            .build()
            .await
            .expect("build store");
        Self { store, prefix }
    }

    /// Another store (another "process") on the same prefix.
    pub async fn twin(&self, target: &Target) -> RedisStore {
        self.twin_with(target, |b| b).await
    }

    /// Like [`Fresh::twin`], with builder options of its own.
    pub async fn twin_with(
        &self,
        target: &Target,
        f: impl FnOnce(RedisStoreBuilder) -> RedisStoreBuilder,
    ) -> RedisStore {
        f(target.builder().prefix(&self.prefix))
            .build()
            .await
            .expect("build store")
    }

    pub async fn cleanup(self) {
        self.store.clear().await.expect("clear test keys");
    }
}

/// A raw connection for inspecting keys.
pub async fn raw(target: &Target) -> redis::aio::MultiplexedConnection {
    let Target::Single(url) = target else {
        panic!("raw() is for single-server targets")
    };
    redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A response's status and body, and the session cookie it set (if any).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: String,
    pub set_cookie: Option<String>,
}

pub async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Resp {
    let mut req = Request::builder().method("GET").uri(path);
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

/// The benchmark's four endpoints: `/login`, `/read`, `/incr`, `/none`.
pub fn app(store: RedisStore, config: SessionConfig) -> Router {
    Router::new()
        .route(
            "/login",
            get(|s: Session| async move {
                s.insert("user", "bench").await?;
                s.insert("n", 0_u64).await?;
                Ok::<_, tessera::Error>("ok")
            }),
        )
        .route(
            "/read",
            get(|s: Session| async move {
                match s.get::<String>("user").await? {
                    Some(u) => Ok::<_, tessera::Error>((StatusCode::OK, u)),
                    None => Ok((StatusCode::UNAUTHORIZED, String::new())),
                }
            }),
        )
        .route(
            "/incr",
            get(|s: Session| async move {
                if s.get::<String>("user").await?.is_none() {
                    return Ok::<_, tessera::Error>((StatusCode::UNAUTHORIZED, String::new()));
                }
                let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
                Ok((StatusCode::OK, n.to_string()))
            }),
        )
        .route(
            "/n",
            get(|s: Session| async move {
                let n: Option<u64> = s.get("n").await?;
                Ok::<_, tessera::Error>(n.map(|n| n.to_string()).unwrap_or_default())
            }),
        )
        .route("/none", get(|| async { "none" }))
        .layer(SessionLayer::new(store, config))
}

pub fn config() -> tessera::SessionConfigBuilder {
    SessionConfig::builder().secret(SECRET)
}

/// A `redis-server` of the test's own on a free loopback port, killed on drop.
pub struct Server {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts one (append-only file fsynced on every write, so a `kill -9` loses
    /// nothing), or skips when `redis-server` is not installed.
    pub async fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            return tessera::testkit::skip("redis-server is not installed");
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir =
            std::env::temp_dir().join(format!("tessera-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Self {
            port,
            dir,
            child: None,
        };
        s.restart().await;
        Some(s)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again) and waits until it answers PING.
    pub async fn restart(&mut self) {
        let port = self.port.to_string();
        let args = [
            "--port",
            &port,
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ];
        self.child = Some(redis_server(&args, &self.dir));
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..100 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// `kill -9` (no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `redis-server` on loopback with `args`, no RDB snapshots, files in `dir`.
pub fn redis_server(args: &[&str], dir: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args(args)
        .args(["--bind", "127.0.0.1", "--save", ""])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}
