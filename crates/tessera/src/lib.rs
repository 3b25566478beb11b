//! # Tessera: server-side HTTP sessions for tower and axum
//!
//! A signed session-id cookie, session data in a store, and the express-session semantics
//! Node tutorials teach, without their races:
//!
//! - **Wire-compatible with express-session**: the same `s:<id>.<hmac>` cookie and the same
//!   stored JSON, so a Node app and a Rust app can share live sessions.
//! - **Lazy**: a request that never touches its session costs no store operation.
//! - **No lost updates**: writes are conditional; on conflict a request's changes are
//!   replayed on the fresh session ([`Session::update`] re-runs its closure).
//! - **Safe regeneration**: [`Session::cycle_id`] creates the new record before deleting
//!   the old one, so errors never log the user out.
//! - Idle **and** absolute timeouts, throttled touches, secret rotation, per-user listing
//!   and revocation, 503 instead of silent data loss when the store is down.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tessera::{MemoryStore, Session, SessionConfig, SessionLayer};
//!
//! # #[tokio::main] async fn main() {
//! let config = SessionConfig::builder()
//!     .secret(std::env::var("SESSION_SECRET").expect("SESSION_SECRET"))
//!     .build()
//!     .expect("valid session config");
//! let app = Router::new()
//!     .route("/", get(|session: Session| async move {
//!         let n = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
//!         Ok::<_, tessera::Error>(format!("visit #{n}"))
//!     }))
//!     .layer(SessionLayer::new(MemoryStore::default(), config));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```
//!
//! ## The path of one request
//!
//! Data flows one way through the modules (no module imports one above it):
//!
//! 1. `layer` (the tower adapter) reads the request's cookie, header and TLS facts into
//!    [`RequestParts`] and asks the [`Engine`] (`engine`) to `begin`: a lazy [`Session`].
//! 2. The handler uses `session`: the first access loads the record through the store
//!    (`instrumented`: timeout, tracing, metrics) into the pure state machine `state`
//!    (`Unloaded | Failed | Ready { stored, working, log, pending }`); every change is a
//!    transition that also appends to the change log (`log`).
//! 3. After the handler, `Engine::finish` asks the state for its one decision,
//!    `Ready::plan` → a `Plan` (nothing, create, save, touch, delete), which `writer`
//!    carries out against the store; saves go through `combine`, which merges
//!    concurrent saves of the same session into one conditional save and replays the
//!    change logs on conflict. The state takes in what was `Written`.
//! 4. `state::outgoing` decides the cookie and header; `cookie` renders them; the adapter
//!    writes them into the response (or the error response that replaces it).
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod combine;
pub mod config;
mod cookie;
mod core;
mod engine;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod id;
mod instrumented;
mod layer;
mod lifetime;
mod log;
mod memory;
mod metrics;
mod record;
mod record_parse;
mod session;
mod signing;
mod state;
mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
mod writer;

pub use clock::Clock;
pub use config::{
    Priority, SameSite, Secure, SessionConfig, SessionConfigBuilder, ShortSecrets, StoreFailure,
    Unset,
};
pub use engine::{Engine, Finished, RequestParts};
pub use error::{BoxError, ConfigError, Error, StoreError};
#[cfg(feature = "axum")]
pub use extract::MissingSessionLayer;
pub use id::{IdGenerator, MAX_ID_LEN, SessionId};
pub use layer::{SessionFailure, SessionLayer, SessionService};
pub use memory::{DEFAULT_MAX_ENTRIES, MemoryStore, MemoryStoreBuilder};
pub use metrics::names as metric_names;
pub use record::{CookieData, Record, StoredMeta};
pub use signing::MIN_SECRET_LEN;

/// What a store crate needs besides [`Record`]: the stored format's reserved keys and the
/// JavaScript date format Node writes (`Date#toISOString`).
pub mod store_support {
    pub use crate::record::{COOKIE_KEY, META_KEY, iso_ms};
}
pub use session::Session;
pub use store::{BoxedStore, SaveOutcome, ScanPage, SessionStore};

/// The README's code blocks, compiled as doctests (the README is the registry page).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
