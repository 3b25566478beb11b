//! [`Error`]: what building or migrating a store can fail with, and the mapping of driver
//! errors to [`tessera::StoreError`] for session operations.

use std::path::PathBuf;
use std::time::Duration;
use tessera::StoreError;

/// What configuring, connecting or migrating a SQL store can fail with.
///
/// Session operations themselves fail with [`tessera::StoreError`] (the layer turns those
/// into 503 responses).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A table or schema name is not a plain SQL identifier.
    #[error(
        "invalid SQL identifier {0:?}: use 1 to {max} ASCII letters, digits or underscores, not starting with a digit",
        max = crate::schema::MAX_IDENT_LEN
    )]
    InvalidIdentifier(String),
    /// The connection URL or options could not be parsed.
    #[error("invalid database connection options: {0}")]
    Config(#[source] sqlx::Error),
    /// The database failed (unreachable, refused a statement, …).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The folder of the SQLite database file could not be created.
    #[error("cannot create the folder {path:?} for the database file: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// Another instance held the migration lock for longer than the wait limit.
    #[error("the schema migration lock was not granted within {0:?}")]
    MigrationLock(Duration),
}

/// Maps a driver error of a session operation: pool timeouts become
/// [`StoreError::Timeout`], malformed columns [`StoreError::Decode`], everything else
/// (connection refused or lost, statement errors) [`StoreError::Unavailable`].
pub(crate) fn store_error(err: sqlx::Error, acquire_timeout: Duration) -> StoreError {
    match err {
        sqlx::Error::PoolTimedOut => StoreError::Timeout(acquire_timeout),
        e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => StoreError::decode(e),
        e => StoreError::unavailable(e),
    }
}

/// Whether a driver error is a primary-key violation (an id collision on `create`).
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}
