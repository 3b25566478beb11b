//! Session ids: generation, validation, and the redacted form used in logs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// Longest id accepted from a client or a custom generator.
pub const MAX_ID_LEN: usize = 256;

/// A session id: a bearer secret.
///
/// Its `Debug` and `Display` forms are redacted (a short hash), so an id never reaches a
/// log by accident; use [`SessionId::as_str`] where the real value is needed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// 24 bytes from the OS CSPRNG as base64url without padding (32 characters,
    /// 192 bits), exactly like express-session's `uid-safe.sync(24)`.
    ///
    /// # Panics
    /// Only if the operating system has no random source, which no supported platform lacks.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    /// Accepts an id from outside (a custom generator, a store, a verified cookie).
    ///
    /// Returns `None` for an empty id, one longer than [`MAX_ID_LEN`], or one with
    /// control characters, spaces, `;`, `,` or non-ASCII characters.
    ///
    /// ```
    /// # use tessera::SessionId;
    /// assert!(SessionId::parse("WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS").is_some());
    /// assert!(SessionId::parse("bad id").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'"' && b != b'\\');
        ok.then(|| Self(s.into()))
    }

    /// The id itself. Treat it as a secret: do not log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible tag for logs: the first 8 hex digits of SHA-256(id).
    pub fn log_tag(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(#{})", self.log_tag())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.log_tag())
    }
}

/// A custom id generator (express-session's `genid`).
pub type IdGenerator = Arc<dyn Fn() -> String + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_32_url_safe_chars_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn debug_and_display_never_show_the_id() {
        let id = SessionId::parse("WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS").unwrap();
        assert!(!format!("{id:?}").contains(id.as_str()));
        assert!(!format!("{id}").contains(id.as_str()));
        assert_eq!(id.log_tag().len(), 8);
    }

    #[test]
    fn parse_rejects_unsafe_ids() {
        for bad in ["", "a b", "a;b", "é", &"x".repeat(MAX_ID_LEN + 1), "a\u{0}"] {
            assert!(SessionId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
