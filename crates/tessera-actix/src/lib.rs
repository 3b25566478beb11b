#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod extract;
mod middleware;

pub use error::Error;
pub use extract::{MissingSessionMiddleware, Session};
pub use middleware::{SessionMiddleware, TesseraSession};
pub use tessera::{SessionConfig, SessionStore};
