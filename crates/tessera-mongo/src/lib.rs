//! # tessera-mongo: a MongoDB session store for Tessera
//!
//! [`MongoStore`] keeps sessions in MongoDB in the documents connect-mongo writes, so a
//! Node app (express-session + connect-mongo, or connect-mongodb-session) and a Rust app
//! can share one `sessions` collection and their users' live sessions:
//!
//! ```text
//! { _id: "<session id>",
//!   session: "{\"cookie\":{…},…}",   // express-session JSON (or an embedded document)
//!   expires: ISODate("…"),           // TTL index {expires: 1}, expireAfterSeconds 0
//!   user: "42",                      // Tessera: the bound user (indexed), if any
//!   version: NumberLong("…") }       // Tessera: random, new on every Tessera write
//! ```
//!
//! - Creation is `insert_one` (a duplicate `_id` is [`StoreError::IdCollision`]), saves
//!   are `update_one` filtered on `_id`, liveness and the exact `session` value and
//!   `version` that were loaded (so a connect-mongo `set` since the load is a conflict
//!   too), touches `$set` only `expires`: no upsert ever brings a deleted session back.
//! - Loads ignore documents whose `expires` has passed, before the TTL monitor runs.
//! - Optional encryption at rest compatible with connect-mongo's
//!   `createWebCryptoAdapter` ([`WebCryptoAdapter`]).
//! - Timeouts: 2 s server selection and connect, 5 s per operation by default, so an
//!   unreachable server fails fast and the session layer answers 503.
//!
//! ```no_run
//! use tessera::{SessionConfig, SessionLayer};
//! use tessera_mongo::MongoStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MongoStore::connect("mongodb://127.0.0.1:27017/app").await?;
//! let config = SessionConfig::builder()
//!     .secret(std::env::var("SESSION_SECRET")?)
//!     .build()?;
//! let layer = SessionLayer::new(store, config);
//! # let _ = layer; Ok(()) }
//! ```
//!
//! [`StoreError::IdCollision`]: tessera::StoreError::IdCollision
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bson_json;
mod builder;
mod crypto;
mod document;
mod error;
mod indexes;
mod store;

pub use builder::{
    DEFAULT_COLLECTION, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DATABASE, DEFAULT_FALLBACK_TTL,
    DEFAULT_OPERATION_TIMEOUT, MongoStoreBuilder,
};
pub use crypto::{CryptoError, WebCryptoAdapter};
pub use document::SessionFormat;
pub use error::BuildError;
pub use indexes::{EXPIRES_INDEX, USER_INDEX};
pub use mongodb;
pub use store::MongoStore;
