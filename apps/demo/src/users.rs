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
    /// Normalised (trimmed, lower-case) email address.
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

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        const DDL: &str = "CREATE TABLE IF NOT EXISTS users (\
            id TEXT PRIMARY KEY NOT NULL, \
            email TEXT NOT NULL UNIQUE, \
            password_hash TEXT NOT NULL, \
            created_at BIGINT NOT NULL)";
        match self {
            Self::Sqlite(p) => sqlx::query(DDL).execute(p).await.map(drop),
            Self::Postgres(p) => sqlx::query(DDL).execute(p).await.map(drop),
        }
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
            Self::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
        }
    }

    /// The account with this (normalised) email.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<User>, sqlx::Error> {
        type Row = (String, String, String);
        let row: Option<Row> = match self {
            Self::Sqlite(p) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE email = ?1")
                    .bind(email)
                    .fetch_optional(p)
                    .await?
            }
            Self::Postgres(p) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_optional(p)
                    .await?
            }
        };
        Ok(row.map(|(id, email, password_hash)| User {
            id,
            email,
            password_hash,
        }))
    }

    /// The account with this id.
    pub async fn find_by_id(&self, id: &str) -> Result<Option<User>, sqlx::Error> {
        type Row = (String, String, String);
        let row: Option<Row> = match self {
            Self::Sqlite(p) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE id = ?1")
                    .bind(id)
                    .fetch_optional(p)
                    .await?
            }
            Self::Postgres(p) => {
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(p)
                    .await?
            }
        };
        Ok(row.map(|(id, email, password_hash)| User {
            id,
            email,
            password_hash,
        }))
    }

    /// Replaces an account's password hash.
    pub async fn set_password(&self, id: &str, hash: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(p) => {
                sqlx::query("UPDATE users SET password_hash = ?1 WHERE id = ?2")
                    .bind(hash)
                    .bind(id)
                    .execute(p)
                    .await?;
            }
            Self::Postgres(p) => {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(hash)
                    .bind(id)
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }

    /// Stores a new account; a taken email is [`Created::Duplicate`].
    pub async fn create(&self, user: &User) -> Result<Created, sqlx::Error> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let result = match self {
            Self::Sqlite(p) => sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(now)
            .execute(p)
            .await
            .map(drop),
            Self::Postgres(p) => sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(now)
            .execute(p)
            .await
            .map(drop),
        };
        match result {
            Ok(()) => Ok(Created::Ok),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Ok(Created::Duplicate)
            }
            Err(e) => Err(e),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// A new random account id.
pub fn new_id() -> String {
    crate::random_token(16)
}

/// Trims and lower-cases an email address, and checks its shape.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = email.rsplit_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    ok.then_some(email)
}

/// Minimum password length (characters).
pub const MIN_PASSWORD: usize = 8;
/// Maximum password length (characters), so hashing cost stays bounded.
pub const MAX_PASSWORD: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Ana@Example.COM "),
            Some("ana@example.com".into())
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@localhost",
            "a b@example.com",
            "ana@exa mple.com",
            "ana@-x.com",
            "ana@x..com",
            "ana@<x>.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}
