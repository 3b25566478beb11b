//! # tessera-cli: the `tessera` admin tool
//!
//! Inspect, revoke, purge, export and migrate sessions on any store Tessera reads,
//! including the stores express-session apps write (connect-redis, connect-pg-simple,
//! connect-mongo). Stores are named by the URL syntax of `tessera-connect`, the same as the
//! demo site's `SESSION_STORE`. The binary is `tessera` (`tessera --help`); this library is
//! what it runs, for tests and for programs that want the same operations.
//!
//! - [`inspect`]: `count`, `list`, `show`, `revoke`, `purge-expired`;
//! - [`mod@migrate`]: store to store, never overwriting, safe to re-run;
//! - [`jsonl`]: `export` / `import` as JSON Lines;
//! - [`copy`]: what `migrate` and `import` share; [`pages`]: walking a store with `scan`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod copy;
pub mod error;
pub mod inspect;
pub mod jsonl;
pub mod migrate;
pub mod pages;
pub mod view;

pub use copy::Summary;
pub use error::CliError;
pub use inspect::Target;
pub use migrate::{MigrateOptions, migrate};
