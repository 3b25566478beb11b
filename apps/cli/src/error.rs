//! [`CliError`] and the exit codes it maps to.

use tessera::StoreError;
use tessera_connect::OpenError;

/// Exit code of a command that did what it was asked.
pub const EXIT_OK: u8 = 0;
/// Exit code of a command that failed (store unreachable, records that could not be copied).
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a usage error (bad flags, a URL that names no store).
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed. Messages name stores by their redacted URL only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The store URL could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// A store operation failed.
    #[error("{what}")]
    Store {
        /// What was being done, with the store's redacted URL.
        what: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// Reading standard input or writing standard output failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Some records could not be copied (each was reported on standard error).
    #[error("{0} record(s) could not be copied")]
    Incomplete(u64),
    /// No live session has this id or tag.
    #[error("no live session has the id or tag {0:?}")]
    NotFound(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Open(e) if e.is_usage() => EXIT_USAGE,
            Self::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILED,
        }
    }

    /// The error and its causes on one line, each cause once (drivers often repeat their
    /// source inside their own message).
    pub fn one_line(&self) -> String {
        one_line(self)
    }

    /// Wraps a store error with what was being done.
    pub fn store(what: impl Into<String>) -> impl FnOnce(StoreError) -> Self {
        let what = what.into();
        move |source| Self::Store { what, source }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// An error and its causes on one line, each cause once: a cause whose message the line
/// already contains is left out.
pub(crate) fn one_line(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !line.contains(&msg) {
            line.push_str(": ");
            line.push_str(&msg);
        }
        source = s.source();
    }
    line.replace(['\n', '\r'], " ")
}
