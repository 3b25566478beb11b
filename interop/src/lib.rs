//! Live session sharing with Node: the Rust twin of `interop/node/server.js`, a Node
//! process launcher, a minimal cookie-keeping HTTP client, and the scenarios every store
//! runs (`scenarios`).
#![warn(missing_docs)]

pub mod app;
pub mod http;
pub mod node;
pub mod scenarios;

/// The secret both apps start with (the "old" one during rotation).
pub const SECRET: &str = "interop secret shared with Node - at least 32 bytes";
/// The secret the Rust app rotates to.
pub const NEW_SECRET: &str = "the new interop secret - also at least 32 bytes long";

/// A random lowercase hex suffix for per-run namespaces (key prefixes, tables, collections).
pub fn unique(tag: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("OS random source");
    format!(
        "{tag}_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}
