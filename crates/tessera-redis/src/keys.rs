//! Key layout.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix><id>` (default `sess:<id>`) | string | the session JSON, TTL = the session's expiry |
//! | `<user prefix><user>` (default `sess-user:<user>`) | sorted set | member = stored id, score = ms when last added |
//!
//! With [`hash_ids`](crate::RedisStoreBuilder::hash_ids) the stored id is
//! `base64url(SHA-256(id))` and the user part of the index key is hashed the same way.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use tessera::SessionId;

/// Marks an id returned by `list_by_user` when ids are hashed at rest: the value after it
/// is already the stored (hashed) id, so `delete`, `load` and `touch` use it as is.
pub const HASHED_ID_MARK: &str = "~h~";

/// The key names of one store.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub prefix: String,
    pub user_prefix: String,
    pub hash_ids: bool,
}

fn sha256_b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(s.as_bytes()))
}

impl Keys {
    /// The id as stored in key names and index members.
    pub fn stored_id<'a>(&self, id: &'a SessionId) -> Cow<'a, str> {
        let id = id.as_str();
        if !self.hash_ids {
            return Cow::Borrowed(id);
        }
        match id.strip_prefix(HASHED_ID_MARK) {
            Some(stored) => Cow::Borrowed(stored),
            None => Cow::Owned(sha256_b64(id)),
        }
    }

    /// The session id to report for a stored id (the id itself, or the marked hash).
    pub fn public_id(&self, stored: &str) -> Option<SessionId> {
        if self.hash_ids {
            SessionId::parse(&format!("{HASHED_ID_MARK}{stored}"))
        } else {
            SessionId::parse(stored)
        }
    }

    /// `<prefix><stored id>`.
    pub fn session(&self, id: &SessionId) -> String {
        self.session_stored(&self.stored_id(id))
    }

    /// `<prefix><stored id>` for an already stored id.
    pub fn session_stored(&self, stored: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + stored.len());
        k.push_str(&self.prefix);
        k.push_str(stored);
        k
    }

    /// `<user prefix><user>` (the user hashed when ids are hashed).
    pub fn user(&self, user: &str) -> String {
        if self.hash_ids {
            format!("{}{}", self.user_prefix, sha256_b64(user))
        } else {
            format!("{}{user}", self.user_prefix)
        }
    }

    /// The `SCAN MATCH` pattern for every session key: the prefix with glob characters
    /// escaped, then `*`.
    pub fn scan_pattern(&self) -> String {
        let mut p = String::with_capacity(self.prefix.len() + 2);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('*');
        p
    }
}

/// The default user-index prefix for a session prefix: `sess:` → `sess-user:`,
/// `app:sess:` → `app:sess-user:` (outside the `SCAN` pattern of the session keys).
pub(crate) fn default_user_prefix(prefix: &str) -> String {
    format!("{}-user:", prefix.strip_suffix(':').unwrap_or(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(hash: bool) -> Keys {
        Keys {
            prefix: "sess:".into(),
            user_prefix: default_user_prefix("sess:"),
            hash_ids: hash,
        }
    }

    #[test]
    fn connect_redis_layout() {
        let k = keys(false);
        let id = SessionId::parse("WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS").unwrap();
        assert_eq!(k.session(&id), "sess:WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS");
        assert_eq!(k.user("42"), "sess-user:42");
        assert_eq!(k.scan_pattern(), "sess:*");
        assert_eq!(default_user_prefix("app:s"), "app:s-user:");
    }

    #[test]
    fn glob_characters_are_escaped() {
        let mut k = keys(false);
        k.prefix = "a*b?[c]\\:".into();
        assert_eq!(k.scan_pattern(), "a\\*b\\?\\[c\\]\\\\:*");
    }

    #[test]
    fn hashed_ids_round_trip_through_the_marker() {
        let k = keys(true);
        let id = SessionId::parse("WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS").unwrap();
        let stored = k.stored_id(&id).into_owned();
        assert_eq!(stored.len(), 43);
        assert!(!k.session(&id).contains(id.as_str()));
        let public = k.public_id(&stored).unwrap();
        assert_eq!(k.session(&public), k.session(&id));
        assert!(!k.user("alice").contains("alice"));
    }
}
