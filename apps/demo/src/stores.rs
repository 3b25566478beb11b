//! The session store `SESSION_STORE` names, opened by `tessera-connect`: the same URL
//! syntax and defaults as the `tessera` admin CLI.

use anyhow::Context as _;
use std::time::Duration;
pub use tessera_connect::{Opened, redact, sqlite_path};

/// How often stores without native expiry delete expired sessions.
const CLEANUP_EVERY: Duration = Duration::from_secs(300);

/// Opens the store `url` names, creating its schema where it has one.
pub async fn open(url: &str) -> anyhow::Result<Opened> {
    let options = tessera_connect::Options::default().cleanup_every(CLEANUP_EVERY);
    tessera_connect::open(url, &options)
        .await
        .context("SESSION_STORE")
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn unknown_scheme_is_an_error() {
        let err = super::open("ftp://x").await.err().map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("SESSION_STORE") && e.contains("unknown store")));
        assert!(super::open("sqlite://").await.is_err());
    }
}
