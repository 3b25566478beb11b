//! Stored values: the record's JSON (or its encrypted form), and version tokens.
//!
//! The version of a stored value is the first 8 bytes of its SHA-1, so the save script
//! can check it with `redis.sha1hex` without any extra field: a write by anyone (another
//! Tessera process, or a Node app sharing the key) changes it.

use sha1::{Digest, Sha1};
use tessera::{Record, StoreError};

/// The version token of a stored value.
pub(crate) fn version(raw: &[u8]) -> u64 {
    let digest = Sha1::digest(raw);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// A version as the save script compares it: 16 lowercase hex digits.
pub(crate) fn version_hex(v: u64) -> String {
    format!("{v:016x}")
}

/// Encodes and decodes stored values.
#[derive(Debug, Default)]
pub(crate) struct Codec {
    #[cfg(feature = "encryption")]
    pub keyring: Option<crate::crypto::Keyring>,
}

impl Codec {
    /// The value to store under `key` for `record`.
    pub fn encode(&self, record: &Record, key: &str) -> Result<String, StoreError> {
        let json = record.to_json();
        #[cfg(feature = "encryption")]
        if let Some(ring) = &self.keyring {
            return ring
                .seal(&json, key.as_bytes(), record.user.as_deref())
                .map_err(StoreError::unavailable);
        }
        let _ = key;
        Ok(json)
    }

    /// The JSON of a stored value read from `key`.
    pub fn decode(&self, raw: Vec<u8>, key: &str) -> Result<String, StoreError> {
        let text = String::from_utf8(raw).map_err(StoreError::decode)?;
        if !text.starts_with("tsr1:") {
            return Ok(text);
        }
        #[cfg(feature = "encryption")]
        if let Some(ring) = &self.keyring {
            return ring.open(&text, key.as_bytes()).map_err(StoreError::decode);
        }
        let _ = key;
        Err(StoreError::decode(
            "the stored session is encrypted, but this store has no encryption keyring",
        ))
    }

    /// The owner tokens of `user` the save script compares with the stored value's owner:
    /// (plaintext form, encrypted form).
    pub fn owner_tokens(&self, user: &str) -> (String, String) {
        let plain = format!("u:{user}");
        #[cfg(feature = "encryption")]
        if let Some(ring) = &self.keyring {
            return (plain, format!("t:{}", ring.user_tag(Some(user))));
        }
        (plain.clone(), plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_sha1_prefix_redis_computes() {
        // redis-cli EVAL "return redis.sha1hex(ARGV[1])" 0 abc
        // → a9993e364706816aba3e25717850c26c9cd0d89d
        assert_eq!(version_hex(version(b"abc")), "a9993e364706816a");
    }
}
