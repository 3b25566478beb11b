//! Error types: [`StoreError`] for store back ends, [`Error`] for the session API.

use std::time::Duration;

/// A boxed error from a store's client library (a driver or connection error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a [`SessionStore`](crate::SessionStore) operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create` found a record with the same id already stored.
    #[error("a session with this id already exists")]
    IdCollision,
    /// The operation did not finish within the configured timeout.
    #[error("session store did not answer within {0:?}")]
    Timeout(Duration),
    /// The back end could not be reached or refused the operation.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A stored record could not be decoded.
    #[error("stored session record is malformed: {0}")]
    Decode(#[source] BoxError),
    /// The in-memory store reached its configured entry bound and could not evict.
    #[error("session store is full ({0} entries)")]
    Full(usize),
    /// The store does not offer this capability (see [`SessionStore`](crate::SessionStore)).
    #[error("this session store does not support {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps a client-library error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Wraps a decoding error as [`StoreError::Decode`].
    pub fn decode(err: impl Into<BoxError>) -> Self {
        Self::Decode(err.into())
    }

    /// A short, stable name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::IdCollision => "id_collision",
            Self::Timeout(_) => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Decode(_) => "decode",
            Self::Full(_) => "full",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

/// What a [`Session`](crate::Session) method can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session store failed; the layer answers 503 for this request by default.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be converted to or from JSON.
    #[error("session value (de)serialization failed: {0}")]
    Json(#[from] serde_json::Error),
    /// Concurrent writers kept changing the session; the bounded retries ran out.
    #[error("session was changed concurrently too often; giving up after {0} attempts")]
    Contention(u32),
    /// `reload()` found no stored session (it expired or was deleted).
    #[error("the session no longer exists in the store")]
    NotFound,
    /// The session was destroyed or expired by another request before this one saved; this
    /// request's changes were not stored (a logged-out session is never brought back).
    #[error("the session ended while this request was running; its changes were not saved")]
    Ended,
    /// `cookie` and `__tessera` are reserved keys of the stored format.
    #[error("session key {0:?} is reserved")]
    ReservedKey(String),
    /// A [`Session::try_update`](crate::Session::try_update) closure refused the value
    /// another request had stored meanwhile, so none of this request's changes were
    /// saved (409: the change the handler reported did not happen).
    #[error("a concurrent change made this request's update impossible: {0}")]
    Refused(String),
}

impl Error {
    /// The HTTP status this error maps to: 503 for store and contention errors, 409 when the
    /// session ended or a refused update, 401 for `reload` of a gone session, 500 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Store(_) | Self::Contention(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => http::StatusCode::UNAUTHORIZED,
            Self::Ended | Self::Refused(_) => http::StatusCode::CONFLICT,
            Self::Json(_) | Self::ReservedKey(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl Error {
    /// A message for people, with no detail of the failure (those go to the log).
    pub fn public_message(&self) -> &'static str {
        match self {
            Error::Store(_) => {
                "Service unavailable: the session store could not be reached. Please try again."
            }
            Error::Contention(_) => {
                "Service unavailable: this session is busy with other requests. Please try again."
            }
            Error::Ended => {
                "Conflict: your session ended while this request was running; nothing was saved."
            }
            Error::NotFound => "Unauthorized: the session no longer exists.",
            Error::Refused(_) => {
                "Conflict: another request changed the session first and this request's change \
                 no longer applies; nothing was saved. Please try again."
            }
            _ => "Internal server error: the session could not be processed.",
        }
    }
}

/// Invalid [`SessionConfig`](crate::SessionConfig).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No secret was configured.
    #[error("at least one session secret is required")]
    NoSecret,
    /// A secret is shorter than 32 bytes (and `short_secrets` does not allow it there).
    #[error(
        "session secret #{} is {len} bytes; at least 32 bytes are required \
         (to share sessions with a Node app's short secret, see `short_secrets`)",
        index + 1
    )]
    SecretTooShort {
        /// Position of the secret in the list (0 = the signing secret).
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The cookie name is empty or contains characters not allowed in a cookie name.
    #[error("invalid cookie name {0:?}")]
    InvalidCookieName(String),
    /// Neither the cookie nor the header transport is enabled.
    #[error("no session transport: enable the cookie, a header, or both")]
    NoTransport,
    /// A duration option is zero or out of range.
    #[error("invalid duration for {0}")]
    InvalidDuration(&'static str),
    /// A cookie attribute contains characters that cannot appear in Set-Cookie.
    #[error("invalid cookie attribute {0}")]
    InvalidAttribute(&'static str),
}
