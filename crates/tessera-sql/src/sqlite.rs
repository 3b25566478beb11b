//! [`SqliteStore`]: sessions in a SQLite file (WAL mode, busy timeout, pooled).

use crate::common::{self, Common, common_setters};
use crate::error::{Error, is_unique_violation, store_error};
use crate::schema::{Quote, Table};
use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tessera::{Clock, Record, SaveOutcome, ScanPage, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;

/// Default wait of a statement for another connection's write lock.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A session store in a SQLite database file.
///
/// Same table shape as the PostgreSQL store with SQLite's types: `sid TEXT PRIMARY KEY`,
/// `sess TEXT` (the JSON), `expire INTEGER` (Unix milliseconds, UTC), `user_id TEXT`,
/// `version INTEGER`. The file is opened in WAL mode with `synchronous = NORMAL` and a
/// busy timeout, so readers never block the writer and concurrent writers wait for
/// each other instead of failing.
///
/// ```no_run
/// # async fn f() -> Result<(), tessera_sql::Error> {
/// let store = tessera_sql::SqliteStore::builder("data/sessions.db").connect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    table: Table,
    sql: Statements,
    clock: Clock,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.inner.table.quoted())
            .finish_non_exhaustive()
    }
}

enum Source {
    Path(PathBuf),
    Pool(SqlitePool),
}

/// Builder for [`SqliteStore`].
pub struct SqliteStoreBuilder {
    source: Source,
    busy_timeout: Duration,
    common: Common,
}

impl std::fmt::Debug for SqliteStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStoreBuilder")
            .field("busy_timeout", &self.busy_timeout)
            .field("common", &self.common)
            .finish_non_exhaustive()
    }
}

impl SqliteStoreBuilder {
    common_setters!();

    /// How long a statement waits for another connection's write lock (default 5 s).
    /// Ignored for a pool passed in.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Builds the store: creates the file's folder if missing; the pool opens the file
    /// (creating it) lazily.
    pub fn build(self) -> Result<SqliteStore, Error> {
        let table = Table::new(None, &self.common.table, Quote::Double)?;
        let c = &self.common;
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Path(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(self.busy_timeout);
                SqlitePoolOptions::new()
                    .max_connections(c.max_connections)
                    .acquire_timeout(c.acquire_timeout)
                    .test_before_acquire(c.test_before_acquire)
                    .connect_lazy_with(opts)
            }
        };
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                pool,
                sql: Statements::new(&table.quoted()),
                table,
                clock: c.clock,
                acquire_timeout: c.acquire_timeout,
            }),
        })
    }

    /// Builds the store and runs [`SqliteStore::migrate`].
    pub async fn connect(self) -> Result<SqliteStore, Error> {
        let store = self.build()?;
        store.migrate().await?;
        Ok(store)
    }
}

struct Statements {
    load: String,
    create: String,
    save: String,
    live: String,
    touch: String,
    delete: String,
    list_by_user: String,
    scan: String,
    delete_by_user: String,
    delete_by_user_except: String,
    count: String,
    delete_expired: String,
}

impl Statements {
    fn new(t: &str) -> Self {
        Self {
            load: format!(
                "SELECT sess, expire, COALESCE(version, 0) FROM {t} WHERE sid = ?1 AND expire > ?2"
            ),
            create: format!(
                "INSERT INTO {t} (sid, sess, expire, user_id, version) VALUES (?1, ?2, ?3, ?4, ?5)"
            ),
            save: format!(
                "UPDATE {t} SET sess = ?2, expire = ?3, user_id = ?4, version = ?5 \
                 WHERE sid = ?1 AND COALESCE(version, 0) = ?6 AND expire > ?7"
            ),
            live: format!("SELECT 1 FROM {t} WHERE sid = ?1 AND expire > ?2"),
            touch: format!("UPDATE {t} SET expire = ?2 WHERE sid = ?1 AND expire > ?3"),
            delete: format!("DELETE FROM {t} WHERE sid = ?1"),
            scan: format!(
                "SELECT sid, sess, expire, COALESCE(version, 0) FROM {t} \
                 WHERE sid > ?1 AND expire > ?2 ORDER BY sid LIMIT ?3"
            ),
            list_by_user: format!(
                "SELECT sid, sess, expire, COALESCE(version, 0) FROM {t} \
                 WHERE user_id = ?1 AND expire > ?2"
            ),
            delete_by_user: format!("DELETE FROM {t} WHERE user_id = ?1 AND expire > ?2"),
            delete_by_user_except: format!(
                "DELETE FROM {t} WHERE user_id = ?1 AND expire > ?2 AND sid <> ?3"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE expire > ?1"),
            delete_expired: format!("DELETE FROM {t} WHERE expire <= ?1"),
        }
    }
}

/// An instant as the `expire` column: Unix milliseconds.
fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The `expire` column back as an instant.
fn from_ms(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(StoreError::decode)
}

impl SqliteStore {
    /// A builder for the database file at `path` (its folder is created if missing).
    pub fn builder(path: impl Into<PathBuf>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            source: Source::Path(path.into()),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            common: Common::default(),
        }
    }

    /// A builder using an existing pool (configure WAL and a busy timeout on it).
    pub fn builder_with_pool(pool: SqlitePool) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            source: Source::Pool(pool),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            common: Common::default(),
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// Creates the table and indexes, or adds the columns an older table lacks.
    /// Idempotent; concurrent calls serialize on SQLite's write lock (`BEGIN IMMEDIATE`).
    /// SQLite can still answer "database is locked" without waiting (several processes
    /// opening a new file at once, switching it to WAL); such attempts are retried with a
    /// short backoff for a few seconds.
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut attempt = 0u32;
        loop {
            match self.migrate_once().await {
                Err(Error::Database(e)) if is_busy(&e) && attempt < 20 => {
                    attempt += 1;
                    tracing::debug!(attempt, "SQLite busy during migration; retrying");
                    tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn migrate_once(&self) -> Result<(), Error> {
        let t = &self.inner.table;
        let q = t.quoted();
        let mut conn = self.inner.pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let result = async {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {q} (\
                 sid TEXT PRIMARY KEY NOT NULL, \
                 sess TEXT NOT NULL, \
                 expire INTEGER NOT NULL, \
                 user_id TEXT, \
                 version INTEGER)"
            );
            sqlx::query(&create).execute(&mut *conn).await?;
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                .bind(t.name.as_str())
                .fetch_all(&mut *conn)
                .await?;
            for (col, ty) in [("user_id", "TEXT"), ("version", "INTEGER")] {
                if !columns.iter().any(|c| c == col) {
                    let alter = format!("ALTER TABLE {q} ADD COLUMN {col} {ty}");
                    sqlx::query(&alter).execute(&mut *conn).await?;
                }
            }
            for col in ["expire", "user_id"] {
                let idx = t.index(col);
                let index = format!("CREATE INDEX IF NOT EXISTS {idx} ON {q} ({col})");
                sqlx::query(&index).execute(&mut *conn).await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(())
            }
            Err(e) => {
                // Leave no open transaction on a pooled connection.
                if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                    let _ = conn.detach().close().await;
                }
                Err(e.into())
            }
        }
    }

    /// Starts a task that runs [`SessionStore::delete_expired`] every `every`. Abort the
    /// handle to stop it.
    pub fn spawn_cleanup(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        common::spawn_cleanup(self.clone(), every)
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        store_error(e, self.inner.acquire_timeout)
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }
}

/// `sid, sess, expire (ms), version` as `list_by_user` and `scan` select them.
type Row = (String, String, i64, i64);

/// The records of `rows` (rows whose `sid` Tessera would not issue are skipped).
fn records(rows: Vec<Row>, now: OffsetDateTime) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for (sid, sess, expire, v) in rows {
        if let Some(id) = common::parse_sid(&sid) {
            out.push(common::decode(
                id,
                &sess,
                from_ms(expire)?,
                common::token(v),
                now,
            )?);
        }
    }
    Ok(out)
}

impl SessionStore for SqliteStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let now = self.now();
        let row: Option<(String, i64, i64)> = sqlx::query_as(&self.inner.sql.load)
            .bind(id.as_str())
            .bind(ms(now))
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|(sess, expire, v)| {
            common::decode(id.clone(), &sess, from_ms(expire)?, common::token(v), now)
        })
        .transpose()
    }

    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        let version = common::new_version();
        sqlx::query(&self.inner.sql.create)
            .bind(record.id.as_str())
            .bind(record.to_json())
            .bind(ms(record.expires_at))
            .bind(record.user.as_deref())
            .bind(version)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::IdCollision
                } else {
                    self.err(e)
                }
            })?;
        Ok(common::token(version))
    }

    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        let version = common::new_version();
        let now = ms(self.now());
        let done = sqlx::query(&self.inner.sql.save)
            .bind(record.id.as_str())
            .bind(record.to_json())
            .bind(ms(record.expires_at))
            .bind(record.user.as_deref())
            .bind(version)
            .bind(common::column(record.version))
            .bind(now)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        if done.rows_affected() > 0 {
            return Ok(SaveOutcome::Saved(common::token(version)));
        }
        // Not written: a live row means another write won, none means it is gone.
        let live = sqlx::query(&self.inner.sql.live)
            .bind(record.id.as_str())
            .bind(now)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(if live.is_some() {
            SaveOutcome::Conflict
        } else {
            SaveOutcome::Missing
        })
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.inner.sql.touch)
            .bind(id.as_str())
            .bind(ms(expires_at))
            .bind(ms(self.now()))
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.inner.sql.delete)
            .bind(id.as_str())
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_by_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let now = self.now();
        let rows: Vec<Row> = sqlx::query_as(&self.inner.sql.list_by_user)
            .bind(user)
            .bind(ms(now))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        records(rows, now)
    }

    /// Pages in `sid` order (the primary key); the cursor is the last `sid` of the page.
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<ScanPage, StoreError> {
        let now = self.now();
        let limit = common::page_size(limit);
        let rows: Vec<Row> = sqlx::query_as(&self.inner.sql.scan)
            .bind(cursor.unwrap_or(""))
            .bind(ms(now))
            .bind(limit as i64)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        let next = common::next_cursor(rows.len(), limit, rows.last().map(|r| r.0.clone()));
        Ok(ScanPage::new(records(rows, now)?, next))
    }

    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let sql = &self.inner.sql;
        let now = ms(self.now());
        let q = match except {
            Some(keep) => sqlx::query(&sql.delete_by_user_except)
                .bind(user)
                .bind(now)
                .bind(keep.as_str()),
            None => sqlx::query(&sql.delete_by_user).bind(user).bind(now),
        };
        let done = q.execute(&self.inner.pool).await.map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&self.inner.sql.count)
            .bind(ms(self.now()))
            .fetch_one(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(n.max(0) as u64)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(&self.inner.sql.delete_expired)
            .bind(ms(self.now()))
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }
}

/// `SQLITE_BUSY` (5) or `SQLITE_LOCKED` (6), with or without an extended code.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}
