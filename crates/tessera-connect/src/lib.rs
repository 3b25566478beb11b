#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod url;

pub use error::OpenError;
pub use url::{redact, sqlite_path};

use std::time::Duration;
use tessera::{BoxedStore, MemoryStore};

/// How [`open`] opens a store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// For SQL stores (no native expiry): delete expired rows this often in a background
    /// task. `None` (the default): no task; call `delete_expired` yourself.
    pub cleanup_every: Option<Duration>,
    /// Whether a SQLite file that does not exist is created (default `true`). An admin tool
    /// reading a store sets it to `false`, so a mistyped path is an error instead of a new,
    /// empty store.
    pub create_missing: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cleanup_every: None,
            create_missing: true,
        }
    }
}

impl Options {
    /// Deletes expired rows of SQL stores every `every` in a background task.
    #[must_use]
    pub fn cleanup_every(mut self, every: Duration) -> Self {
        self.cleanup_every = Some(every);
        self
    }

    /// Whether a missing SQLite file is created (default `true`).
    #[must_use]
    pub fn create_missing(mut self, on: bool) -> Self {
        self.create_missing = on;
        self
    }
}

/// Which kind of store a URL opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// In-process memory.
    Memory,
    /// SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// Redis (single server, Cluster or Sentinel).
    Redis,
    /// MongoDB.
    Mongo,
    /// A store given directly ([`Opened::custom`]).
    Custom,
}

/// An opened session store.
#[non_exhaustive]
pub struct Opened {
    /// The store, type-erased.
    pub store: BoxedStore,
    /// Which kind of store it is.
    pub kind: Kind,
    /// The URL without credentials or query, for logs and messages.
    pub description: String,
    /// For a SQLite store: its file and pool, so other tables in the same file can share it.
    #[cfg(feature = "sqlite")]
    pub sqlite: Option<(std::path::PathBuf, tessera_sql::sqlx::SqlitePool)>,
    /// Things worth a warning at startup (e.g. a memory store is not shared).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// Wraps a store built by hand (a wrapper in tests, a store with custom options).
    pub fn custom(store: BoxedStore, description: impl Into<String>) -> Self {
        Self::new(store, Kind::Custom, description.into())
    }

    fn new(store: BoxedStore, kind: Kind, description: String) -> Self {
        Self {
            store,
            kind,
            description,
            #[cfg(feature = "sqlite")]
            sqlite: None,
            warnings: Vec::new(),
        }
    }
}

/// Connects a SQL store builder with the URL's `table` parameter applied, and starts the
/// expired-row cleanup if [`Options::cleanup_every`] asks for it. (A macro: the three SQL
/// builders share their method names, not a trait.)
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
macro_rules! connect_sql {
    ($builder:expr, $table:expr, $options:expr, $on_error:expr) => {{
        let mut builder = $builder;
        if let Some(table) = $table {
            builder = builder.table(table);
        }
        let store = builder.connect().await.map_err(|e| $on_error(e.into()))?;
        if let Some(every) = $options.cleanup_every {
            store.spawn_cleanup(every);
        }
        store
    }};
}

/// Opens the store `url` names, creating its schema (table, indexes) where it has one.
///
/// # Errors
/// [`OpenError::Invalid`] for a URL this crate cannot read, [`OpenError::NotBuilt`] for a
/// store whose cargo feature is off, [`OpenError::NoSuchFile`] for a missing SQLite file
/// when [`Options::create_missing`] is off, [`OpenError::Connect`] when the server cannot
/// be reached or the schema cannot be created.
pub async fn open(url: &str, options: &Options) -> Result<Opened, OpenError> {
    let url = url.trim();
    let description = redact(url);
    let scheme = url::scheme(url);
    let invalid = |reason: &str| OpenError::Invalid {
        url: description.clone(),
        reason: reason.to_owned(),
    };
    let connect = |e: Box<dyn std::error::Error + Send + Sync>| OpenError::Connect {
        url: description.clone(),
        source: e,
    };
    let not_built = |feature: &'static str| OpenError::NotBuilt {
        url: description.clone(),
        feature,
    };
    // Each is unused in some feature combinations.
    let _ = (&invalid, &connect, &not_built);
    match scheme.as_str() {
        "memory" => {
            let mut o = Opened::new(
                BoxedStore::new(MemoryStore::default()),
                Kind::Memory,
                description.clone(),
            );
            o.warnings.push(
                "memory store: sessions are lost when the process stops and are not shared \
                 between instances"
                    .to_owned(),
            );
            Ok(o)
        }
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let (url, table) = url::take_param(url, "table");
            let path = sqlite_path(&url).ok_or_else(|| invalid("expected sqlite://PATH"))?;
            if !options.create_missing && !path.exists() {
                return Err(OpenError::NoSuchFile { url: description });
            }
            let store = connect_sql!(
                tessera_sql::SqliteStore::builder(&path),
                table,
                options,
                connect
            );
            let pool = store.pool().clone();
            let mut o = Opened::new(BoxedStore::new(store), Kind::Sqlite, description);
            o.sqlite = Some((path, pool));
            Ok(o)
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let (url, table) = url::take_param(url, "table");
            let builder = tessera_sql::PostgresStore::builder(url);
            let store = connect_sql!(builder, table, options, connect);
            Ok(Opened::new(
                BoxedStore::new(store),
                Kind::Postgres,
                description,
            ))
        }
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => {
            let (url, table) = url::take_param(url, "table");
            let builder =
                tessera_sql::MySqlStore::builder(url.replacen("mariadb://", "mysql://", 1));
            let store = connect_sql!(builder, table, options, connect);
            Ok(Opened::new(
                BoxedStore::new(store),
                Kind::MySql,
                description,
            ))
        }
        #[cfg(feature = "mongodb")]
        "mongodb" | "mongodb+srv" => {
            let (url, collection) = url::take_param(url, "collection");
            let mut builder = tessera_mongo::MongoStore::builder().uri(url);
            if let Some(collection) = collection {
                builder = builder.collection(collection);
            }
            let store = builder.build().await.map_err(|e| connect(e.into()))?;
            Ok(Opened::new(
                BoxedStore::new(store),
                Kind::Mongo,
                description,
            ))
        }
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis+cluster" | "redis+sentinel" => {
            let (url, prefix) = url::take_param(url, "prefix");
            let (url, near) = url::take_param(&url, "near_cache");
            let near = near
                .map(|n| n.parse::<usize>())
                .transpose()
                .map_err(|_| invalid("near_cache must be a number of sessions (0: off)"))?;
            let mut builder = tessera_redis::RedisStore::builder();
            builder = match scheme.as_str() {
                "redis+cluster" => builder.cluster(
                    url::cluster_nodes(&url)
                        .ok_or_else(|| invalid("expected redis+cluster://host:port,host:port"))?,
                ),
                "redis+sentinel" => {
                    let (nodes, master) = url::sentinel_nodes(&url).ok_or_else(|| {
                        invalid("expected redis+sentinel://host:port,host:port/MASTER_NAME")
                    })?;
                    builder.sentinel(nodes, master)
                }
                _ => builder.url(url),
            };
            if let Some(prefix) = prefix {
                builder = builder.prefix(prefix);
            }
            if let Some(n) = near {
                builder = builder.near_cache(n);
            }
            let store = builder.build().await.map_err(|e| connect(e.into()))?;
            Ok(Opened::new(
                BoxedStore::new(store),
                Kind::Redis,
                description,
            ))
        }
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => Err(not_built("sqlite")),
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => Err(not_built("postgres")),
        #[cfg(not(feature = "mysql"))]
        "mysql" | "mariadb" => Err(not_built("mysql")),
        #[cfg(not(feature = "mongodb"))]
        "mongodb" | "mongodb+srv" => Err(not_built("mongodb")),
        #[cfg(not(feature = "redis"))]
        "redis" | "rediss" | "redis+cluster" | "redis+sentinel" => Err(not_built("redis")),
        "" => Err(invalid(
            "not a store URL (use memory, sqlite://PATH, postgres://…, mysql://…, \
             redis://…, redis+cluster://…, redis+sentinel://…/MASTER or mongodb://…)",
        )),
        other => Err(invalid(&format!(
            "unknown store {other:?} (use memory, sqlite://PATH, postgres://…, mysql://…, \
             redis://…, redis+cluster://…, redis+sentinel://…/MASTER or mongodb://…)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unusable_urls_are_errors() {
        let err = open("ftp://x", &Options::default()).await.err();
        assert!(
            matches!(&err, Some(OpenError::Invalid { reason, .. }) if reason.contains("unknown store"))
        );
        let err = open("sqlite://", &Options::default()).await.err();
        assert!(matches!(err, Some(OpenError::Invalid { .. })));
        let err = open("", &Options::default()).await.err();
        assert!(matches!(err, Some(OpenError::Invalid { .. })));
        // Checked before any connection is tried.
        let err = open("redis://127.0.0.1:1/?near_cache=lots", &Options::default())
            .await
            .err();
        assert!(
            matches!(&err, Some(OpenError::Invalid { reason, .. }) if reason.contains("near_cache"))
        );
    }

    #[tokio::test]
    async fn a_missing_sqlite_file_is_not_created_when_asked() {
        let path =
            std::env::temp_dir().join(format!("tessera-connect-missing-{}.db", std::process::id()));
        let url = format!("sqlite://{}", path.display());
        let err = open(&url, &Options::default().create_missing(false))
            .await
            .err();
        assert!(matches!(err, Some(OpenError::NoSuchFile { .. })));
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn sqlite_table_parameter_names_the_table() {
        let dir = std::env::temp_dir().join(format!("tessera-connect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/s.db?table=web_sessions", dir.display());
        let opened = open(&url, &Options::default()).await.unwrap();
        assert_eq!(opened.kind, Kind::Sqlite);
        assert!(!opened.description.contains("table="));
        let (_, pool) = opened.sqlite.as_ref().unwrap();
        let n: i64 = tessera_sql::sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'web_sessions'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(n, 1);
        drop(opened);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
