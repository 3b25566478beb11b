//! # tessera-sql: SQL session stores for Tessera
//!
//! Session stores on [sqlx] 0.8, one cargo feature per back end:
//!
//! | feature    | store             | table                                               |
//! |------------|-------------------|-----------------------------------------------------|
//! | `postgres` | [`PostgresStore`] | connect-pg-simple's `session` table, shared with Node |
//! | `sqlite`   | [`SqliteStore`]   | the same shape in a file (WAL mode)                 |
//! | `mysql`    | [`MySqlStore`]    | the same shape on MySQL 8 / MariaDB 10.5+           |
//!
//! Every store:
//! - creates records with a plain `INSERT` (an existing id is an
//!   [`IdCollision`](tessera::StoreError::IdCollision), never overwritten);
//! - saves with `UPDATE … WHERE sid = ? AND version = ?`, so a concurrent write is a
//!   conflict and a deleted session is never brought back;
//! - ignores expired rows (`expire > now` in every read) and deletes them with
//!   `delete_expired()` or a background task (`spawn_cleanup`), using the `expire` index;
//! - keeps a nullable, indexed `user_id` column for per-user listing and revocation;
//! - validates the table name, so it can come from configuration;
//! - maps pool timeouts to [`StoreError::Timeout`](tessera::StoreError::Timeout) and
//!   connection errors to [`StoreError::Unavailable`](tessera::StoreError::Unavailable)
//!   (the layer answers 503) and reconnects by itself when the database is back.
//!
//! See the crate's `README.md` for the schemas and the statements of each operation.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(any(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(dead_code, unused_imports, unused_macros)
)]

mod common;
mod error;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use common::DEFAULT_ACQUIRE_TIMEOUT;
pub use error::Error;
#[cfg(feature = "mysql")]
pub use mysql::{MySqlStore, MySqlStoreBuilder};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresStoreBuilder};
pub use schema::{DEFAULT_TABLE, MAX_IDENT_LEN};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreBuilder};
/// The sqlx version this crate is built on, for passing in your own pools.
pub use sqlx;
