//! User accounts: a `users` table in SQLite or PostgreSQL, argon2id password hashes.

use anyhow::{Context as _, bail};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A stored account.
#[derive(Debug, Clone)]
pub struct User {
    /// Opaque id (random, hex).
    pub id: String,
    /// Normalised email address (see [`crate::email::normalize`]).
    pub email: String,
    /// PHC-format argon2id hash.
    pub password_hash: String,
}

/// Where accounts live.
#[derive(Clone)]
pub enum UserDb {
    /// A SQLite file (possibly the session store's).
    Sqlite(SqlitePool),
    /// A PostgreSQL database.
    Postgres(PgPool),
}

/// The result of [`UserDb::create`].
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// The account was stored.
    Ok,
    /// The email is taken.
    Duplicate,
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl UserDb {
    /// Opens `url` (`sqlite://PATH` or `postgres://…`) and creates the table. A SQLite
    /// file that is also the session store's reuses that pool (`shared`).
    pub async fn open(url: &str, shared: Option<&(PathBuf, SqlitePool)>) -> anyhow::Result<Self> {
        let url = url.trim();
        let shown = crate::stores::redact(url);
        let db = if let Some(path) = crate::stores::sqlite_path(url) {
            let pool = match shared.filter(|(p, _)| same_file(p, &path)) {
                Some((_, pool)) => pool.clone(),
                None => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    let opts = SqliteConnectOptions::new()
                        .filename(&path)
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .busy_timeout(Duration::from_secs(5));
                    SqlitePoolOptions::new()
                        .max_connections(5)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(opts)
                }
            };
            Self::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(5)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy(url)
                .with_context(|| format!("USER_DB {shown}: invalid PostgreSQL URL"))?;
            Self::Postgres(pool)
        } else {
            bail!("USER_DB {shown}: use sqlite://PATH or postgres://…");
        };
        db.migrate()
            .await
            .with_context(|| format!("cannot open the user database {shown}"))?;
        Ok(db)
    }

    /// Creates the table, and on a table from an older version adds the `skeleton`
    /// column (issue 11, point 9) and fills it in for existing accounts. Accounts that
    /// already look alike keep a NULL skeleton (NULLs never collide in a unique index);
    /// new ones cannot join them.
    async fn migrate(&self) -> Result<(), sqlx::Error> {
        self.execute(
            "CREATE TABLE IF NOT EXISTS users (\
             id TEXT PRIMARY KEY NOT NULL, \
             email TEXT NOT NULL UNIQUE, \
             password_hash TEXT NOT NULL, \
             created_at BIGINT NOT NULL, \
             skeleton TEXT)",
            &[],
        )
        .await?;
        match self {
            Self::Postgres(_) => {
                self.execute(
                    "ALTER TABLE users ADD COLUMN IF NOT EXISTS skeleton TEXT",
                    &[],
                )
                .await?;
            }
            // SQLite has no `IF NOT EXISTS` here: a present column is "duplicate column".
            Self::Sqlite(_) => match self
                .execute("ALTER TABLE users ADD COLUMN skeleton TEXT", &[])
                .await
            {
                Err(e) if e.to_string().contains("duplicate column") => {}
                other => {
                    other?;
                }
            },
        }
        self.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS users_skeleton ON users (skeleton)",
            &[],
        )
        .await?;
        let missing: Vec<(String, String)> = match self {
            Self::Sqlite(p) => {
                sqlx::query_as("SELECT id, email FROM users WHERE skeleton IS NULL")
                    .fetch_all(p)
                    .await?
            }
            Self::Postgres(p) => {
                sqlx::query_as("SELECT id, email FROM users WHERE skeleton IS NULL")
                    .fetch_all(p)
                    .await?
            }
        };
        for (id, email) in missing {
            let skeleton = crate::email::skeleton(&email);
            match self
                .execute(
                    "UPDATE users SET skeleton = $1 WHERE id = $2",
                    &[Bind::Text(&skeleton), Bind::Text(&id)],
                )
                .await
            {
                Err(e) if is_unique_violation(&e) => {
                    tracing::warn!(account = %id, "an existing account looks like another one");
                }
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Runs a statement written with `$1`-style placeholders (SQLite takes them as `?1`).
    async fn execute(&self, sql: &str, binds: &[Bind<'_>]) -> Result<u64, sqlx::Error> {
        match self {
            Self::Sqlite(p) => {
                let sql = sql.replace('$', "?");
                let mut q = sqlx::query(&sql);
                for b in binds {
                    q = match *b {
                        Bind::Text(t) => q.bind(t),
                        Bind::Int(n) => q.bind(n),
                    };
                }
                Ok(q.execute(p).await?.rows_affected())
            }
            Self::Postgres(p) => {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = match *b {
                        Bind::Text(t) => q.bind(t),
                        Bind::Int(n) => q.bind(n),
                    };
                }
                Ok(q.execute(p).await?.rows_affected())
            }
        }
    }

    /// The account matching `column = value` (`column` is one of ours, never input).
    async fn find(&self, column: &str, value: &str) -> Result<Option<User>, sqlx::Error> {
        type Row = (String, String, String);
        let sql = format!("SELECT id, email, password_hash FROM users WHERE {column} = $1");
        let row: Option<Row> = match self {
            Self::Sqlite(p) => {
                sqlx::query_as(&sql.replace('$', "?"))
                    .bind(value)
                    .fetch_optional(p)
                    .await?
            }
            Self::Postgres(p) => sqlx::query_as(&sql).bind(value).fetch_optional(p).await?,
        };
        Ok(row.map(|(id, email, password_hash)| User {
            id,
            email,
            password_hash,
        }))
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.execute("SELECT 1", &[]).await.map(drop)
    }

    /// The account with this (normalised) email.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<User>, sqlx::Error> {
        self.find("email", email).await
    }

    /// The account whose email looks like this one (same confusable skeleton).
    pub async fn find_lookalike(&self, email: &str) -> Result<Option<User>, sqlx::Error> {
        self.find("skeleton", &crate::email::skeleton(email)).await
    }

    /// The account with this id.
    pub async fn find_by_id(&self, id: &str) -> Result<Option<User>, sqlx::Error> {
        self.find("id", id).await
    }

    /// Replaces an account's password hash.
    pub async fn set_password(&self, id: &str, hash: &str) -> Result<(), sqlx::Error> {
        self.execute(
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            &[Bind::Text(hash), Bind::Text(id)],
        )
        .await
        .map(drop)
    }

    /// Stores a new account; a taken email, or one that looks like a taken one, is
    /// [`Created::Duplicate`].
    pub async fn create(&self, user: &User) -> Result<Created, sqlx::Error> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let skeleton = crate::email::skeleton(&user.email);
        let result = self
            .execute(
                "INSERT INTO users (id, email, password_hash, created_at, skeleton) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    Bind::Text(&user.id),
                    Bind::Text(&user.email),
                    Bind::Text(&user.password_hash),
                    Bind::Int(now),
                    Bind::Text(&skeleton),
                ],
            )
            .await;
        match result {
            Ok(_) => Ok(Created::Ok),
            Err(e) if is_unique_violation(&e) => Ok(Created::Duplicate),
            Err(e) => Err(e),
        }
    }
}

/// A statement parameter.
#[derive(Clone, Copy)]
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// A new random account id.
pub fn new_id() -> String {
    crate::random::random_token(16)
}

/// Minimum password length (characters).
pub const MIN_PASSWORD: usize = 8;
/// Maximum password length (characters), so hashing cost stays bounded.
pub const MAX_PASSWORD: usize = 1024;
