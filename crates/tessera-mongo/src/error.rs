//! Errors: building a store ([`BuildError`]) and mapping driver errors to [`StoreError`].

use mongodb::error::{ErrorKind, WriteFailure};
use std::time::Duration;
use tessera::StoreError;

/// What [`MongoStoreBuilder::build`](crate::MongoStoreBuilder::build) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither a URI nor a client was given.
    #[error("no MongoDB URI or client configured")]
    NoConnection,
    /// The connection string could not be parsed (or its SRV lookup failed).
    #[error("invalid MongoDB connection string: {0}")]
    InvalidUri(#[source] mongodb::error::Error),
    /// The driver rejected the client options.
    #[error("cannot create the MongoDB client: {0}")]
    Client(#[source] mongodb::error::Error),
    /// An option is out of range or options contradict each other.
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
    /// Creating the indexes at start-up failed (the server is unreachable, or refused).
    #[error("cannot create the session indexes: {0}")]
    Indexes(#[source] StoreError),
}

/// Duplicate key (E11000).
const DUPLICATE_KEY: i32 = 11000;

/// The server error code of a command or write error, if any.
pub(crate) fn server_code(err: &mongodb::error::Error) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

/// Whether the error is a duplicate-key error (an `_id` that already exists).
pub(crate) fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    server_code(err) == Some(DUPLICATE_KEY)
}

/// Maps a driver error: undecodable replies are [`StoreError::Decode`], everything else
/// (server selection timeouts, I/O, refused commands) is [`StoreError::Unavailable`].
pub(crate) fn map(err: mongodb::error::Error) -> StoreError {
    match err.kind.as_ref() {
        ErrorKind::BsonDeserialization(_) | ErrorKind::InvalidResponse { .. } => {
            StoreError::decode(err)
        }
        _ => StoreError::unavailable(err),
    }
}

/// Runs a driver future under the store's operation timeout.
pub(crate) async fn timed<T>(
    limit: Duration,
    fut: impl std::future::IntoFuture<Output = Result<T, mongodb::error::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, fut.into_future()).await {
        Ok(r) => r.map_err(map),
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}
