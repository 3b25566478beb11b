//! Shared helpers for the CLI's tests: a store of each kind in a namespace of this test's
//! own on the shared servers (removed afterwards, also after a failure), and running the
//! real `tessera` binary.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tessera::{BoxedStore, Record, SessionStore};

/// The kinds of store the CLI is tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
    Redis,
    Cluster,
    Mongo,
}

/// A random lowercase hex token.
pub fn token() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("OS random source");
    format!("{:016x}", u64::from_le_bytes(b))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// What removes a namespace; runs on its own thread and runtime when the `Place` drops.
type Cleanup = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A store in a namespace of its own: its URL for the CLI and an opened handle for the test.
pub struct Place {
    pub backend: Backend,
    pub url: String,
    pub store: BoxedStore,
    cleanup: Mutex<Option<Cleanup>>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let f = self
            .cleanup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(f) = f {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("cleanup runtime");
                rt.block_on(f());
            })
            .join();
        }
    }
}

/// Deletes a Redis namespace's sessions and user indexes through the store's own
/// `clear()` (SCAN + DEL of its keys only; the server is shared, never flushed).
async fn clear_redis(builder: tessera_redis::RedisStoreBuilder) {
    if let Ok(store) = builder.build().await {
        let _ = store.clear().await;
    }
}

/// A `mongodb://host/DB?query` URL naming database `db`.
fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(p) => &base[..after_scheme + p],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A store of `backend` in a fresh namespace, or `None` (with a printed reason; a panic
/// under `CI=true`) when its server is not there. Redis, PostgreSQL and MariaDB default to
/// the machine's loopback servers; Redis Cluster and MongoDB need `REDIS_CLUSTER_URLS` and
/// `MONGO_URI` (`.ci/run` starts both).
pub async fn place(backend: Backend) -> Option<Place> {
    let ns = format!("tessera_cli_{}", token());
    let (url, cleanup): (String, Cleanup) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(&ns);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = format!("sqlite://{}/sessions.db", dir.display());
            (
                url,
                Box::new(move || {
                    Box::pin(async move {
                        let _ = std::fs::remove_dir_all(&dir);
                    })
                }),
            )
        }
        Backend::Postgres => {
            let base = env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}table={ns}");
            (
                url,
                Box::new(move || {
                    Box::pin(async move {
                        use tessera_sql::sqlx::{Connection as _, PgConnection};
                        if let Ok(mut c) = PgConnection::connect(&base).await {
                            let _ = tessera_sql::sqlx::query(&format!("DROP TABLE IF EXISTS {ns}"))
                                .execute(&mut c)
                                .await;
                        }
                    })
                }),
            )
        }
        Backend::MySql => {
            let base = env_or("MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}table={ns}");
            (
                url,
                Box::new(move || {
                    Box::pin(async move {
                        use tessera_sql::sqlx::{Connection as _, MySqlConnection};
                        if let Ok(mut c) = MySqlConnection::connect(&base).await {
                            let _ = tessera_sql::sqlx::query(&format!("DROP TABLE IF EXISTS {ns}"))
                                .execute(&mut c)
                                .await;
                        }
                    })
                }),
            )
        }
        Backend::Redis => {
            let base = env_or("REDIS_URL", "redis://127.0.0.1:6379");
            let url = format!("{}/?prefix={ns}:sess:", base.trim_end_matches('/'));
            (
                url,
                Box::new(move || {
                    Box::pin(async move {
                        let builder = tessera_redis::RedisStore::builder().url(base);
                        clear_redis(builder.prefix(format!("{ns}:sess:"))).await;
                    })
                }),
            )
        }
        Backend::Cluster => {
            let Ok(nodes) = std::env::var("REDIS_CLUSTER_URLS") else {
                return tessera::testkit::skip("REDIS_CLUSTER_URLS is not set (Redis Cluster)");
            };
            let nodes: Vec<String> = nodes.split(',').map(|n| n.trim().to_owned()).collect();
            let hosts: Vec<&str> = nodes
                .iter()
                .map(|n| n.trim_start_matches("redis://").trim_end_matches('/'))
                .collect();
            let url = format!("redis+cluster://{}/?prefix={ns}:sess:", hosts.join(","));
            (
                url,
                Box::new(move || {
                    Box::pin(async move {
                        let builder = tessera_redis::RedisStore::builder().cluster(nodes);
                        clear_redis(builder.prefix(format!("{ns}:sess:"))).await;
                    })
                }),
            )
        }
        Backend::Mongo => {
            let Ok(base) = std::env::var("MONGO_URI") else {
                return tessera::testkit::skip("MONGO_URI is not set (MongoDB)");
            };
            let url = with_db(&base, &ns);
            (
                url,
                Box::new(move || {
                    Box::pin(async move {
                        if let Ok(client) =
                            tessera_mongo::mongodb::Client::with_uri_str(&base).await
                        {
                            let _ = client.database(&ns).drop().await;
                        }
                    })
                }),
            )
        }
    };
    let store = match tessera_connect::open(&url, &Default::default()).await {
        Ok(opened) => opened.store,
        Err(e) => {
            return tessera::testkit::skip(&format!("{backend:?} unreachable: {e}"));
        }
    };
    Some(Place {
        backend,
        url,
        store,
        cleanup: Mutex::new(Some(cleanup)),
    })
}

/// What a run of the binary printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tessera` with `args` (and `stdin`), without the caller's `SESSION_STORE`.
pub fn cli_with_input(args: &[&str], stdin: &[u8]) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env_remove("SESSION_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tessera");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("tessera runs");
    let _ = writer.join();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `tessera` with `args` and an empty standard input.
pub fn cli(args: &[&str]) -> Out {
    cli_with_input(args, b"")
}

/// [`cli`] on a blocking thread, for async tests.
pub async fn cli_async(args: Vec<String>) -> Out {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&args)
    })
    .await
    .expect("cli thread")
}

/// Asserts a run succeeded and returns its standard output.
pub fn ok(out: Out) -> String {
    assert_eq!(out.code, 0, "tessera failed: {out:?}");
    out.stdout
}

/// A record for `user` with distinct data, expiring after `ttl`.
pub fn record(user: Option<&str>, n: u64, ttl: Duration) -> Record {
    let mut r = tessera::testkit::record(user, ttl);
    r.data.insert("n".into(), serde_json::json!(n));
    r.data.insert(
        "cart".into(),
        serde_json::json!([format!("SKU-{n}"), "SKU-0"]),
    );
    r
}

/// Creates `records` in `store`, `concurrency` at a time.
pub async fn seed(store: &BoxedStore, records: Vec<Record>, concurrency: usize) {
    let mut tasks: tokio::task::JoinSet<Result<u64, tessera::StoreError>> =
        tokio::task::JoinSet::new();
    for r in records {
        while tasks.len() >= concurrency {
            tasks
                .join_next()
                .await
                .expect("task")
                .expect("join")
                .expect("create");
        }
        let store = store.clone();
        tasks.spawn(async move { store.create(&r).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("join").expect("create");
    }
}

/// Every live record of a store (through `scan`).
pub async fn all(store: &BoxedStore) -> Vec<Record> {
    tessera::testkit::scan_all(store, 1000).await
}

/// Where a file under the test's temp dir would go.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tessera_cli_{}_{name}", token()))
}
