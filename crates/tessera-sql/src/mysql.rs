//! [`MySqlStore`]: sessions in a MySQL 8 or MariaDB 10.5+ table.

use crate::common::{self, Common, common_setters};
use crate::error::{Error, is_unique_violation, store_error};
use crate::schema::{Quote, Table};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tessera::{Clock, Record, SaveOutcome, ScanPage, SessionId, SessionStore, StoreError};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// How long `migrate()` waits for another instance's migration lock.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(30);

/// A session store on MySQL 8 or MariaDB 10.5+.
///
/// The PostgreSQL table's shape with MySQL types: `sid VARCHAR(256)` (ASCII, binary
/// collation: ids are case-sensitive), `sess LONGTEXT` (the JSON as written, so key
/// order and numbers round-trip; MySQL's `JSON` type would reorder keys), `expire
/// DATETIME(6)` in UTC, `user_id VARCHAR(255)`, `version BIGINT`, indexes on `expire` and
/// `user_id`.
///
/// ```no_run
/// # async fn f() -> Result<(), tessera_sql::Error> {
/// let store = tessera_sql::MySqlStore::builder("mysql://root@127.0.0.1:3306/app")
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MySqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: MySqlPool,
    table: Table,
    sql: Statements,
    clock: Clock,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("table", &self.inner.table.quoted())
            .finish_non_exhaustive()
    }
}

enum Source {
    Url(String),
    Pool(MySqlPool),
}

/// Builder for [`MySqlStore`].
pub struct MySqlStoreBuilder {
    source: Source,
    common: Common,
}

impl std::fmt::Debug for MySqlStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStoreBuilder")
            .field("common", &self.common)
            .finish_non_exhaustive()
    }
}

impl MySqlStoreBuilder {
    common_setters!();

    /// Builds the store without touching the database (the pool connects lazily).
    pub fn build(self) -> Result<MySqlStore, Error> {
        let table = Table::new(None, &self.common.table, Quote::Backtick)?;
        let c = &self.common;
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Url(url) => {
                let opts = MySqlConnectOptions::from_str(&url).map_err(Error::Config)?;
                MySqlPoolOptions::new()
                    .max_connections(c.max_connections)
                    .acquire_timeout(c.acquire_timeout)
                    .test_before_acquire(c.test_before_acquire)
                    .connect_lazy_with(opts)
            }
        };
        Ok(MySqlStore {
            inner: Arc::new(Inner {
                pool,
                sql: Statements::new(&table.quoted()),
                table,
                clock: c.clock,
                acquire_timeout: c.acquire_timeout,
            }),
        })
    }

    /// Builds the store and runs [`MySqlStore::migrate`].
    pub async fn connect(self) -> Result<MySqlStore, Error> {
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

/// The version token of a row, computed by the server: the first 64 bits of
/// `MD5(CONCAT(version, ':', sess))` as an unsigned integer ([`token`] computes the same
/// for a row being written). Any write of `sess`, also one that leaves `version` alone,
/// changes the token; a touch (`expire` only) does not.
const TOKEN: &str =
    "CAST(CONV(LEFT(MD5(CONCAT(COALESCE(version, 0), ':', sess)), 16), 16, 10) AS UNSIGNED)";

/// The token of a row written with `version` and `sess` (what [`TOKEN`] reads back: `sess`
/// is `utf8mb4` text with a binary collation, stored byte for byte).
fn token(version: i64, sess: &str) -> u64 {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(version.to_string().as_bytes());
    h.update(b":");
    h.update(sess.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl Statements {
    fn new(t: &str) -> Self {
        Self {
            load: format!("SELECT sess, expire, {TOKEN} FROM {t} WHERE sid = ? AND expire > ?"),
            create: format!(
                "INSERT INTO {t} (sid, sess, expire, user_id, version) VALUES (?, ?, ?, ?, ?)"
            ),
            save: format!(
                "UPDATE {t} SET sess = ?, expire = ?, user_id = ?, version = ? \
                 WHERE sid = ? AND {TOKEN} = ? AND expire > ?"
            ),
            live: format!("SELECT 1 FROM {t} WHERE sid = ? AND expire > ?"),
            touch: format!("UPDATE {t} SET expire = ? WHERE sid = ? AND expire > ?"),
            delete: format!("DELETE FROM {t} WHERE sid = ?"),
            scan: format!(
                "SELECT sid, sess, expire, {TOKEN} FROM {t} \
                 WHERE sid > ? AND expire > ? ORDER BY sid LIMIT ?"
            ),
            list_by_user: format!(
                "SELECT sid, sess, expire, {TOKEN} FROM {t} WHERE user_id = ? AND expire > ?"
            ),
            delete_by_user: format!("DELETE FROM {t} WHERE user_id = ? AND expire > ?"),
            delete_by_user_except: format!(
                "DELETE FROM {t} WHERE user_id = ? AND expire > ? AND sid <> ?"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE expire > ?"),
            delete_expired: format!("DELETE FROM {t} WHERE expire <= ?"),
        }
    }
}

/// A text column read as bytes: `sid` and `sess` use binary collations (ids are
/// case-sensitive), which sqlx only decodes as bytes.
fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(StoreError::decode)
}

/// An instant as a `DATETIME` in UTC.
fn utc(t: OffsetDateTime) -> PrimitiveDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    PrimitiveDateTime::new(t.date(), t.time())
}

impl MySqlStore {
    /// A builder connecting to `url` (`mysql://user:pass@host:port/db`).
    pub fn builder(url: impl Into<String>) -> MySqlStoreBuilder {
        MySqlStoreBuilder {
            source: Source::Url(url.into()),
            common: Common::default(),
        }
    }

    /// A builder using an existing pool (its own timeouts and size apply).
    pub fn builder_with_pool(pool: MySqlPool) -> MySqlStoreBuilder {
        MySqlStoreBuilder {
            source: Source::Pool(pool),
            common: Common::default(),
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.inner.pool
    }

    /// Creates the table with its indexes, or adds the columns and indexes an older table
    /// lacks. Idempotent and safe when several instances start at once: it runs under a
    /// named lock (`GET_LOCK`), and DDL is only issued for what is missing.
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut conn = self.inner.pool.acquire().await?;
        let lock = format!("tessera:{}", self.inner.table.name.as_str());
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(&lock)
            .bind(MIGRATION_LOCK_WAIT.as_secs() as i64)
            .fetch_one(&mut *conn)
            .await?;
        if got != Some(1) {
            return Err(Error::MigrationLock(MIGRATION_LOCK_WAIT));
        }
        let result = self.migrate_locked(&mut conn).await;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut *conn)
            .await;
        if released.is_err() {
            // The lock dies with the session: close the connection instead of pooling it.
            let _ = sqlx::Connection::close(conn.detach()).await;
        }
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::MySqlConnection) -> Result<(), Error> {
        let t = &self.inner.table;
        let q = t.quoted();
        let (ix_expire, ix_user) = (t.index("expire"), t.index("user_id"));
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {q} (\
             sid VARCHAR(256) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
             sess LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
             expire DATETIME(6) NOT NULL, \
             user_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, \
             version BIGINT NULL, \
             PRIMARY KEY (sid), \
             INDEX {ix_expire} (expire), \
             INDEX {ix_user} (user_id)) ENGINE=InnoDB"
        );
        sqlx::query(&create).execute(&mut *conn).await?;
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ?",
        )
        .bind(t.name.as_str())
        .fetch_all(&mut *conn)
        .await?;
        let user_col = "user_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL";
        for (col, def) in [("user_id", user_col), ("version", "version BIGINT NULL")] {
            if !columns.iter().any(|c| c.eq_ignore_ascii_case(col)) {
                let alter = format!("ALTER TABLE {q} ADD COLUMN {def}");
                sqlx::query(&alter).execute(&mut *conn).await?;
            }
        }
        let indexed: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND seq_in_index = 1",
        )
        .bind(t.name.as_str())
        .fetch_all(&mut *conn)
        .await?;
        for (col, idx) in [("expire", &ix_expire), ("user_id", &ix_user)] {
            if !indexed.iter().any(|c| c.eq_ignore_ascii_case(col)) {
                let index = format!("CREATE INDEX {idx} ON {q} ({col})");
                sqlx::query(&index).execute(&mut *conn).await?;
            }
        }
        Ok(())
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

/// `sid, sess, expire, token` as `list_by_user` and `scan` select them.
type Row = (Vec<u8>, Vec<u8>, PrimitiveDateTime, u64);

/// The records of `rows` (rows whose `sid` Tessera would not issue are skipped).
fn records(rows: Vec<Row>, now: OffsetDateTime) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for (sid, sess, expire, v) in rows {
        if let Some(id) = common::parse_sid(&String::from_utf8_lossy(&sid)) {
            out.push(common::decode(
                id,
                &text(sess)?,
                expire.assume_utc(),
                v,
                now,
            )?);
        }
    }
    Ok(out)
}

impl SessionStore for MySqlStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let now = self.now();
        let row: Option<(Vec<u8>, PrimitiveDateTime, u64)> = sqlx::query_as(&self.inner.sql.load)
            .bind(id.as_str())
            .bind(utc(now))
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|(sess, expire, v)| {
            common::decode(id.clone(), &text(sess)?, expire.assume_utc(), v, now)
        })
        .transpose()
    }

    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        let version = common::new_version();
        let sess = record.to_json();
        sqlx::query(&self.inner.sql.create)
            .bind(record.id.as_str())
            .bind(&sess)
            .bind(utc(record.expires_at))
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
        Ok(token(version, &sess))
    }

    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        let version = common::new_version();
        let sess = record.to_json();
        let now = utc(self.now());
        // sqlx connects with CLIENT_FOUND_ROWS: rows_affected counts matched rows.
        let done = sqlx::query(&self.inner.sql.save)
            .bind(&sess)
            .bind(utc(record.expires_at))
            .bind(record.user.as_deref())
            .bind(version)
            .bind(record.id.as_str())
            .bind(record.version)
            .bind(now)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        if done.rows_affected() > 0 {
            return Ok(SaveOutcome::Saved(token(version, &sess)));
        }
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
            .bind(utc(expires_at))
            .bind(id.as_str())
            .bind(utc(self.now()))
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
            .bind(utc(now))
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
            .bind(utc(now))
            .bind(limit as i64)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        let last = rows
            .last()
            .map(|r| String::from_utf8_lossy(&r.0).into_owned());
        let next = common::next_cursor(rows.len(), limit, last);
        Ok(ScanPage::new(records(rows, now)?, next))
    }

    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let sql = &self.inner.sql;
        let now = utc(self.now());
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
            .bind(utc(self.now()))
            .fetch_one(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(n.max(0) as u64)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(&self.inner.sql.delete_expired)
            .bind(utc(self.now()))
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }
}
