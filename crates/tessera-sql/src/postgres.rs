//! [`PostgresStore`]: sessions in a connect-pg-simple compatible PostgreSQL table.

use crate::common::{self, Common, common_setters};
use crate::error::{Error, is_unique_violation, store_error};
use crate::schema::{Quote, Table};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tessera::{Clock, Record, SaveOutcome, ScanPage, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;

/// A session store on PostgreSQL.
///
/// The table is connect-pg-simple's (`sid varchar PRIMARY KEY, sess json NOT NULL,
/// expire timestamp(6) NOT NULL`, index on `expire`) plus two nullable columns, `user_id`
/// (indexed) and `version`, so a Node app using connect-pg-simple keeps working on it.
///
/// ```no_run
/// # async fn f() -> Result<(), tessera_sql::Error> {
/// let store = tessera_sql::PostgresStore::builder("postgres://postgres@127.0.0.1/app")
///     .table("session")
///     .connect()
///     .await?; // builds the pool and runs `migrate()`
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    table: Table,
    sql: Statements,
    clock: Clock,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.inner.table.quoted())
            .finish_non_exhaustive()
    }
}

enum Source {
    Url(String),
    Pool(PgPool),
}

/// Builder for [`PostgresStore`].
pub struct PostgresStoreBuilder {
    source: Source,
    schema: Option<String>,
    time_zone: Option<String>,
    common: Common,
}

impl std::fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("time_zone", &self.time_zone)
            .field("common", &self.common)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    common_setters!();

    /// The schema holding the table (default: the connection's `search_path`). Created by
    /// `migrate()` if missing.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// The session time zone used to read and write `expire` (a `timestamp` without time
    /// zone). sqlx connects with `UTC`; connect-pg-simple (node-postgres) uses the
    /// server's default `TimeZone`. If a Node app shares the table and `SHOW TimeZone`
    /// is not UTC on the server, set it here (e.g. `"Europe/Berlin"`). Ignored for a
    /// pool passed in.
    pub fn time_zone(mut self, tz: impl Into<String>) -> Self {
        self.time_zone = Some(tz.into());
        self
    }

    /// Builds the store without touching the database (the pool connects lazily).
    pub fn build(self) -> Result<PostgresStore, Error> {
        let table = Table::new(self.schema.as_deref(), &self.common.table, Quote::Double)?;
        let c = &self.common;
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Url(url) => {
                let opts = PgConnectOptions::from_str(&url).map_err(Error::Config)?;
                let mut pool = PgPoolOptions::new()
                    .max_connections(c.max_connections)
                    .acquire_timeout(c.acquire_timeout)
                    .test_before_acquire(c.test_before_acquire);
                if let Some(tz) = self.time_zone {
                    pool = pool.after_connect(move |conn, _| {
                        let tz = tz.clone();
                        Box::pin(async move {
                            sqlx::query("SELECT set_config('TimeZone', $1, false)")
                                .bind(tz)
                                .execute(conn)
                                .await
                                .map(|_| ())
                        })
                    });
                }
                pool.connect_lazy_with(opts)
            }
        };
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                sql: Statements::new(&table.quoted()),
                table,
                clock: c.clock,
                acquire_timeout: c.acquire_timeout,
            }),
        })
    }

    /// Builds the store and runs [`PostgresStore::migrate`].
    pub async fn connect(self) -> Result<PostgresStore, Error> {
        let store = self.build()?;
        store.migrate().await?;
        Ok(store)
    }
}

/// The statements of each operation, built once from the validated table name.
struct Statements {
    load: String,
    create: String,
    save: String,
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
/// `md5(version || ':' || sess::text)`. `json` keeps its text as written, so any write of
/// `sess` (also connect-pg-simple's, which leaves `version` alone) changes the token, and
/// a touch (`expire` only) does not.
const TOKEN: &str = "('x' || left(md5(COALESCE(version, 0)::text || ':' || sess::text), 16))\
                     ::bit(64)::bigint";

impl Statements {
    fn new(t: &str) -> Self {
        Self {
            load: format!(
                "SELECT sess::text, expire::timestamptz, {TOKEN} FROM {t} \
                 WHERE sid = $1 AND expire > $2"
            ),
            create: format!(
                "INSERT INTO {t} (sid, sess, expire, user_id, version) \
                 VALUES ($1, $2::json, $3, $4, $5) RETURNING {TOKEN}"
            ),
            // One statement: the conditional update (on the token of the loaded row, so a
            // write by Node since the load is a conflict too), the new token, and whether
            // a live row exists (seen from the statement's snapshot) to tell a conflict
            // from a missing record.
            save: format!(
                "WITH upd AS (UPDATE {t} SET sess = $2::json, expire = $3, user_id = $4, \
                 version = $5 WHERE sid = $1 AND {TOKEN} = $6 AND expire > $7 \
                 RETURNING {TOKEN} AS token) \
                 SELECT (SELECT token FROM upd), \
                 EXISTS (SELECT 1 FROM {t} WHERE sid = $1 AND expire > $7)"
            ),
            touch: format!("UPDATE {t} SET expire = $2 WHERE sid = $1 AND expire > $3"),
            delete: format!("DELETE FROM {t} WHERE sid = $1"),
            scan: format!(
                "SELECT sid, sess::text, expire::timestamptz, {TOKEN} FROM {t} \
                 WHERE sid > $1 AND expire > $2 ORDER BY sid LIMIT $3"
            ),
            list_by_user: format!(
                "SELECT sid, sess::text, expire::timestamptz, {TOKEN} FROM {t} \
                 WHERE user_id = $1 AND expire > $2"
            ),
            delete_by_user: format!("DELETE FROM {t} WHERE user_id = $1 AND expire > $2"),
            delete_by_user_except: format!(
                "DELETE FROM {t} WHERE user_id = $1 AND expire > $2 AND sid <> $3"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE expire > $1"),
            delete_expired: format!("DELETE FROM {t} WHERE expire <= $1"),
        }
    }
}

impl PostgresStore {
    /// A builder connecting to `url` (`postgres://user:pass@host:port/db`).
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            source: Source::Url(url.into()),
            schema: None,
            time_zone: None,
            common: Common::default(),
        }
    }

    /// A builder using an existing pool (its own timeouts and size apply).
    pub fn builder_with_pool(pool: PgPool) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            source: Source::Pool(pool),
            schema: None,
            time_zone: None,
            common: Common::default(),
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Creates the schema, table and indexes, or adds what an older table lacks (a table
    /// created by connect-pg-simple gets the nullable `user_id` and `version` columns and
    /// the `user_id` index). Idempotent, and safe when several instances start at once:
    /// everything runs in one transaction under a transaction-scoped advisory lock, and
    /// DDL is only issued for what is missing, so a migrated table is never locked.
    pub async fn migrate(&self) -> Result<(), Error> {
        let t = &self.inner.table;
        let q = t.quoted();
        let mut tx = self.inner.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(t.lock_key())
            .execute(&mut *tx)
            .await?;
        if let Some(schema) = &t.schema {
            let s = Quote::Double.ident(schema);
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {q} (\
             sid varchar NOT NULL COLLATE \"default\" PRIMARY KEY, \
             sess json NOT NULL, \
             expire timestamp(6) NOT NULL, \
             user_id varchar, \
             version bigint)"
        ))
        .execute(&mut *tx)
        .await?;
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT attname::text FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
        )
        .bind(&q)
        .fetch_all(&mut *tx)
        .await?;
        for (col, ty) in [("user_id", "varchar"), ("version", "bigint")] {
            if !columns.iter().any(|c| c == col) {
                sqlx::query(&format!(
                    "ALTER TABLE {q} ADD COLUMN IF NOT EXISTS {col} {ty}"
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        // Leading columns of the existing indexes (connect-pg-simple names its expiry
        // index IDX_session_expire whatever the table is called, so match by column).
        let indexed: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a \
             ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = to_regclass($1)",
        )
        .bind(&q)
        .fetch_all(&mut *tx)
        .await?;
        for col in ["expire", "user_id"] {
            if !indexed.iter().any(|c| c == col) {
                let idx = t.index(col);
                sqlx::query(&format!("CREATE INDEX IF NOT EXISTS {idx} ON {q} ({col})"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Starts a task that runs [`SessionStore::delete_expired`] every `every` (the
    /// `expire` index makes it cheap). Abort the handle to stop it.
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
type Row = (String, String, OffsetDateTime, i64);

/// The records of `rows` (rows whose `sid` Tessera would not issue are skipped).
fn records(rows: Vec<Row>, now: OffsetDateTime) -> Result<Vec<Record>, StoreError> {
    rows.into_iter()
        .filter_map(|(sid, sess, expire, v)| {
            common::parse_sid(&sid)
                .map(|id| common::decode(id, &sess, expire, common::token(v), now))
        })
        .collect()
}

impl SessionStore for PostgresStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let now = self.now();
        let row: Option<(String, OffsetDateTime, i64)> = sqlx::query_as(&self.inner.sql.load)
            .bind(id.as_str())
            .bind(now)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|(sess, expire, v)| {
            common::decode(id.clone(), &sess, expire, common::token(v), now)
        })
        .transpose()
    }

    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        let token: i64 = sqlx::query_scalar(&self.inner.sql.create)
            .bind(record.id.as_str())
            .bind(record.to_json())
            .bind(record.expires_at)
            .bind(record.user.as_deref())
            .bind(common::new_version())
            .fetch_one(&self.inner.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::IdCollision
                } else {
                    self.err(e)
                }
            })?;
        Ok(common::token(token))
    }

    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        let (saved, live): (Option<i64>, bool) = sqlx::query_as(&self.inner.sql.save)
            .bind(record.id.as_str())
            .bind(record.to_json())
            .bind(record.expires_at)
            .bind(record.user.as_deref())
            .bind(common::new_version())
            .bind(common::column(record.version))
            .bind(self.now())
            .fetch_one(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(match (saved, live) {
            (Some(token), _) => SaveOutcome::Saved(common::token(token)),
            (None, true) => SaveOutcome::Conflict,
            (None, false) => SaveOutcome::Missing,
        })
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.inner.sql.touch)
            .bind(id.as_str())
            .bind(expires_at)
            .bind(self.now())
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
            .bind(now)
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
            .bind(now)
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
        let q = match except {
            Some(keep) => sqlx::query(&sql.delete_by_user_except)
                .bind(user)
                .bind(self.now())
                .bind(keep.as_str()),
            None => sqlx::query(&sql.delete_by_user).bind(user).bind(self.now()),
        };
        let done = q.execute(&self.inner.pool).await.map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&self.inner.sql.count)
            .bind(self.now())
            .fetch_one(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(n.max(0) as u64)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(&self.inner.sql.delete_expired)
            .bind(self.now())
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }
}
