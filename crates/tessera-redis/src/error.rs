//! Errors: building a store ([`BuildError`]) and mapping client errors to [`StoreError`].

use std::future::Future;
use std::time::Duration;
use tessera::StoreError;

/// What [`RedisStoreBuilder::build`](crate::RedisStoreBuilder::build) can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither a server URL nor cluster node URLs were given.
    #[error("no Redis URL or cluster nodes configured")]
    NoServer,
    /// A URL could not be parsed, or the client rejected the options.
    #[error("invalid Redis configuration: {0}")]
    InvalidUrl(#[source] redis::RedisError),
    /// The initial connection failed (the server is unreachable or refused it).
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] StoreError),
    /// An option is out of range or options contradict each other.
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
}

/// Maps a client error: timeouts are [`StoreError::Timeout`], replies of an unexpected
/// shape are [`StoreError::Decode`], everything else (I/O, refused connections, cluster
/// down, script errors) is [`StoreError::Unavailable`].
pub(crate) fn map(err: redis::RedisError, limit: Duration) -> StoreError {
    if err.is_timeout() {
        StoreError::Timeout(limit)
    } else if matches!(
        err.kind(),
        redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse
    ) {
        StoreError::decode(err)
    } else {
        StoreError::unavailable(err)
    }
}

/// Runs a client future under the store's command timeout.
pub(crate) async fn timed<T>(
    limit: Duration,
    fut: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| map(e, limit)),
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}

/// Exactly `N` replies, or a decode error.
pub(crate) fn replies_of<const N: usize>(
    replies: Vec<redis::Value>,
) -> Result<[redis::Value; N], StoreError> {
    let n = replies.len();
    replies
        .try_into()
        .map_err(|_| StoreError::decode(format!("expected {N} redis replies, got {n}")))
}

/// Converts one reply.
pub(crate) fn from_value<T: redis::FromRedisValue>(v: redis::Value) -> Result<T, StoreError> {
    T::from_redis_value(v).map_err(|e| StoreError::decode(redis::RedisError::from(e)))
}
