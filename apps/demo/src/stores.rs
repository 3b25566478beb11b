//! The store factory: turns `SESSION_STORE` into a [`BoxedStore`].
//!
//! Kept small and separate so each store crate is wired in one place.

use anyhow::{Context as _, bail};
use std::path::PathBuf;
use std::time::Duration;
use tessera::{BoxedStore, MemoryStore};

/// An opened session store.
pub struct OpenedStore {
    /// The store, type-erased.
    pub store: BoxedStore,
    /// The store for the startup line and logs: URL without credentials or query.
    pub description: String,
    /// For a SQLite store: its file and pool, so accounts in the same file share it.
    pub sqlite: Option<(PathBuf, sqlx::SqlitePool)>,
    /// Warnings to print at startup.
    pub warnings: Vec<String>,
}

/// How often stores without native expiry delete expired sessions.
const CLEANUP_EVERY: Duration = Duration::from_secs(300);

/// The file path of a `sqlite://path` (or `sqlite:path`) URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// A URL without user info, password, query or fragment, for logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split('?').next().unwrap_or_default().to_owned();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    // User info ends at the last '@' before the path.
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

/// `redis+cluster://[user:pass@]h1:p1,h2:p2` as seed-node URLs `redis://[user:pass@]h:p`.
pub fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let rest = url.strip_prefix("redis+cluster://")?;
    node_urls(rest.split(['/', '?']).next().unwrap_or_default())
}

/// `[user:pass@]h1:p1,h2:p2` as `redis://[user:pass@]h:p` URLs (`None` if there are none).
fn node_urls(rest: &str) -> Option<Vec<String>> {
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((a, h)) => (format!("{a}@"), h),
        None => (String::new(), rest),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{auth}{h}"))
        .collect();
    (!nodes.is_empty()).then_some(nodes)
}

/// `redis+sentinel://[user:pass@]h1:p1,h2:p2/MASTER` as Sentinel URLs `redis://h:p` and the
/// monitored master's name.
pub fn sentinel_nodes(url: &str) -> Option<(Vec<String>, String)> {
    let rest = url.strip_prefix("redis+sentinel://")?;
    let (hosts, master) = rest.split_once('/')?;
    let master = master
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_matches('/');
    if master.is_empty() {
        return None;
    }
    let hosts = hosts.split('?').next().unwrap_or_default();
    Some((node_urls(hosts)?, master.to_owned()))
}

/// Splits an optional `prefix=` query parameter off a Redis URL (`redis://host/?prefix=app:`),
/// so several apps or test runs can share one Redis without sharing keys.
pub fn split_prefix(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut prefix = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("prefix=") {
            Some(p) if !p.is_empty() => {
                prefix = Some(p.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, prefix)
}

fn scheme(url: &str) -> &str {
    if url == "memory" {
        return "memory";
    }
    url.split_once(':').map_or("", |(s, _)| s)
}

/// Opens the store `url` names, creating its schema where it has one.
pub async fn open(url: &str) -> anyhow::Result<OpenedStore> {
    let url = url.trim();
    let description = redact(url);
    let mut warnings = Vec::new();
    let opened = |store: BoxedStore, warnings| OpenedStore {
        store,
        description: description.clone(),
        sqlite: None,
        warnings,
    };
    match scheme(url) {
        "memory" => {
            warnings.push(
                "SESSION_STORE=memory: sessions are lost when the process stops and are not \
                 shared between instances"
                    .to_owned(),
            );
            Ok(opened(BoxedStore::new(MemoryStore::default()), warnings))
        }
        "sqlite" => {
            let path = sqlite_path(url)
                .with_context(|| format!("SESSION_STORE {url:?}: expected sqlite://PATH"))?;
            let store = tessera_sql::SqliteStore::builder(&path)
                .connect()
                .await
                .with_context(|| format!("cannot open the SQLite session store {description}"))?;
            store.spawn_cleanup(CLEANUP_EVERY);
            let pool = store.pool().clone();
            let mut o = opened(BoxedStore::new(store), warnings);
            o.sqlite = Some((path, pool));
            Ok(o)
        }
        "postgres" | "postgresql" => {
            let store = tessera_sql::PostgresStore::builder(url)
                .connect()
                .await
                .with_context(|| format!("cannot connect to the session store {description}"))?;
            store.spawn_cleanup(CLEANUP_EVERY);
            Ok(opened(BoxedStore::new(store), warnings))
        }
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let store = tessera_sql::MySqlStore::builder(url)
                .connect()
                .await
                .with_context(|| format!("cannot connect to the session store {description}"))?;
            store.spawn_cleanup(CLEANUP_EVERY);
            Ok(opened(BoxedStore::new(store), warnings))
        }
        #[cfg(feature = "mongodb")]
        "mongodb" | "mongodb+srv" => {
            let store = tessera_mongo::MongoStore::connect(url)
                .await
                .with_context(|| format!("cannot connect to the session store {description}"))?;
            Ok(opened(BoxedStore::new(store), warnings))
        }
        #[cfg(feature = "redis")]
        "redis" | "rediss" => {
            let (url, prefix) = split_prefix(url);
            let mut builder = tessera_redis::RedisStore::builder().url(url);
            if let Some(prefix) = prefix {
                builder = builder.prefix(prefix);
            }
            let store = builder
                .build()
                .await
                .with_context(|| format!("cannot connect to the session store {description}"))?;
            Ok(opened(BoxedStore::new(store), warnings))
        }
        #[cfg(feature = "redis")]
        "redis+cluster" => {
            let nodes = cluster_nodes(url).with_context(|| {
                format!("SESSION_STORE {description}: expected redis+cluster://host:port,host:port")
            })?;
            let store = tessera_redis::RedisStore::connect_cluster(nodes)
                .await
                .with_context(|| format!("cannot connect to the session store {description}"))?;
            Ok(opened(BoxedStore::new(store), warnings))
        }
        #[cfg(feature = "redis")]
        "redis+sentinel" => {
            let (nodes, master) = sentinel_nodes(url).with_context(|| {
                format!(
                    "SESSION_STORE {description}: expected redis+sentinel://host:port,host:port/MASTER_NAME"
                )
            })?;
            let store = tessera_redis::RedisStore::builder()
                .sentinel(nodes, master)
                .build()
                .await
                .with_context(|| format!("cannot connect to the session store {description}"))?;
            Ok(opened(BoxedStore::new(store), warnings))
        }
        #[cfg(not(feature = "redis"))]
        "redis" | "rediss" | "redis+cluster" | "redis+sentinel" => {
            bail!("SESSION_STORE {description}: built without the `redis` feature")
        }
        #[cfg(not(feature = "mysql"))]
        "mysql" | "mariadb" => {
            bail!("SESSION_STORE {description}: built without the `mysql` feature")
        }
        #[cfg(not(feature = "mongodb"))]
        "mongodb" | "mongodb+srv" => {
            bail!("SESSION_STORE {description}: built without the `mongodb` feature")
        }
        other => bail!(
            "SESSION_STORE {description}: unknown store {other:?} (use memory, sqlite://PATH, \
             postgres://…, mysql://…, redis://…, redis+cluster://…, redis+sentinel://… or \
             mongodb://…)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact("postgres://user:p%40ss@db.local:5432/app?sslmode=disable&password=x"),
            "postgres://db.local:5432/app"
        );
        assert_eq!(
            redact("redis://:pw@127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            redact("sqlite://data/tessera-demo.db"),
            "sqlite://data/tessera-demo.db"
        );
        assert_eq!(redact("memory"), "memory");
    }

    #[test]
    fn sentinel_urls() {
        assert_eq!(
            sentinel_nodes("redis+sentinel://a:26379,b:26380/mymaster"),
            Some((
                vec!["redis://a:26379".to_owned(), "redis://b:26380".to_owned()],
                "mymaster".to_owned()
            ))
        );
        assert_eq!(
            sentinel_nodes("redis+sentinel://u:p@a:26379/m?x=1").map(|(n, m)| (n[0].clone(), m)),
            Some(("redis://u:p@a:26379".to_owned(), "m".to_owned()))
        );
        assert_eq!(
            sentinel_nodes("redis+sentinel://a:26379"),
            None,
            "no master name"
        );
        assert_eq!(
            sentinel_nodes("redis+sentinel://a:26379/"),
            None,
            "no master name"
        );
    }

    #[test]
    fn redis_prefix_parameter() {
        assert_eq!(
            split_prefix("redis://h:6379"),
            ("redis://h:6379".into(), None)
        );
        assert_eq!(
            split_prefix("redis://h:6379/?prefix=app:sess:"),
            ("redis://h:6379/".into(), Some("app:sess:".into()))
        );
        assert_eq!(
            split_prefix("redis://h/?a=1&prefix=p:&b=2"),
            ("redis://h/?a=1&b=2".into(), Some("p:".into()))
        );
    }

    #[test]
    fn cluster_urls() {
        assert_eq!(
            cluster_nodes("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"),
            Some(vec![
                "redis://127.0.0.1:7000".to_owned(),
                "redis://127.0.0.1:7001".to_owned()
            ])
        );
        assert_eq!(
            cluster_nodes("redis+cluster://:pw@a:1,b:2"),
            Some(vec![
                "redis://:pw@a:1".to_owned(),
                "redis://:pw@b:2".to_owned()
            ])
        );
        assert_eq!(cluster_nodes("redis+cluster://"), None);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/x.db"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("sqlite://"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[tokio::test]
    async fn unknown_scheme_is_an_error() {
        let err = open("ftp://x").await.err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("unknown store")));
        assert!(open("sqlite://").await.is_err());
    }
}
