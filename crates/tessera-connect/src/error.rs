//! [`OpenError`]: why a store URL could not be opened.

/// Why [`open`](crate::open) failed. Every message names the store by its redacted URL
/// (no credentials) and fits on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL is not one this crate can read (unknown scheme, missing path or hosts).
    #[error("{url}: {reason}")]
    Invalid {
        /// The redacted URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL names a store whose cargo feature is off in this build.
    #[error("{url}: this program was built without the `{feature}` feature")]
    NotBuilt {
        /// The redacted URL.
        url: String,
        /// The missing cargo feature.
        feature: &'static str,
    },
    /// A SQLite file that does not exist, with [`Options::create_missing`](crate::Options)
    /// off.
    #[error("{url}: no such file")]
    NoSuchFile {
        /// The redacted URL.
        url: String,
    },
    /// The server could not be reached, or the schema could not be created.
    #[error("cannot connect to the session store {url}")]
    Connect {
        /// The redacted URL.
        url: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OpenError {
    /// Whether the URL itself is at fault (a usage error), not the server.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Invalid { .. } | Self::NotBuilt { .. } | Self::NoSuchFile { .. }
        )
    }
}
