//! # tessera-redis: a Redis, Redis Cluster and Sentinel session store for Tessera
//!
//! [`RedisStore`] keeps sessions where Node's connect-redis keeps them, in the same form,
//! so an express-session app and a Tessera app can share live sessions:
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `sess:<id>` | the express-session JSON (plus Tessera's `__tessera` metadata key) | the session's expiry |
//! | `sess-user:<user>` | sorted set of the user's session ids (Tessera only) | none; pruned when listed |
//!
//! Commands per operation (each bounded by the command timeout, 1 s by default):
//!
//! | operation | commands | round trips |
//! |---|---|---|
//! | load | `GET` (+ `PTTL`, pipelined, when the expiry is not noted; see `memo.rs`); with the near cache, nothing on a hit, `CLIENT TRACKING ON` + `GET` + `PTTL` on a miss | 1 (0 on a hit) |
//! | create | `SET … PX … NX` (after `ZADD` to the user index when bound to a user) | 1 (2) |
//! | save | `EVALSHA` of a compare-and-set script (after `ZADD` when the user changed) | 1 (3) |
//! | touch | `PEXPIRE` | 1 |
//! | delete | `DEL` | 1 |
//! | count | `SCAN … MATCH sess:*` on every primary | per 1000 keys |
//!
//! On a single server the commands of concurrent requests leave together, one pipeline per
//! scheduler pass, and loads of one session waiting in the same batch share one `GET`
//! (see [`RedisStoreBuilder::batch_commands`]). Use the store inside a tokio runtime.
//!
//! ```no_run
//! use tessera::{SessionConfig, SessionLayer};
//! use tessera_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! let config = SessionConfig::builder()
//!     .secret(std::env::var("SESSION_SECRET")?)
//!     .build()?;
//! let layer = SessionLayer::new(store, config);
//! # let _ = layer; Ok(()) }
//! ```
//!
//! See the README for the key layout, the scripts, what is atomic on a cluster, and the
//! optional encryption at rest (feature `encryption`) and id hashing.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod codec;
mod config;
mod conn;
#[cfg(feature = "encryption")]
mod crypto;
mod error;
mod keys;
mod memo;
mod near;
mod near_table;
mod scripts;
mod sentinel;
mod session_store;
mod store;
mod store_near;
mod user_index;

pub use config::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_INDEX_GRACE, DEFAULT_NEAR_CACHE_MAX_AGE, DEFAULT_PREFIX,
    DEFAULT_TTL, RedisStoreBuilder,
};
#[cfg(feature = "encryption")]
pub use crypto::{CryptoError, Keyring};
pub use error::BuildError;
pub use keys::HASHED_ID_MARK;
pub use near::{MAX_VALUE_BYTES, NearCacheStats, names as near_cache_metrics};
pub use redis;
pub use store::RedisStore;
