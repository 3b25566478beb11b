//! Optional encryption at rest (feature `encryption`): AES-256-GCM with key ids.
//!
//! Stored form: `tsr1:<key id>:<user tag>:<base64(nonce ‖ ciphertext ‖ tag)>`
//! - a random 12-byte nonce per write, the Redis key as associated data (a value copied
//!   to another key does not decrypt);
//! - `<key id>` selects the key on read, so keys rotate: new writes use the primary key,
//!   values written with an older key still decrypt while it stays in the [`Keyring`];
//! - `<user tag>` (empty without a user) is HMAC-SHA256(primary key, user), truncated: it
//!   lets the save script notice a change of the bound user without decrypting.
//!
//! Encrypted values are not readable by Node's connect-redis.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The marker every encrypted value starts with.
pub(crate) const MARK: &str = "tsr1:";

/// What encryption or decryption can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key id is empty, longer than 32 characters, or not `[A-Za-z0-9_-]`.
    #[error("invalid key id {0:?}: use 1-32 characters of [A-Za-z0-9_-]")]
    InvalidKeyId(String),
    /// Two keys share an id.
    #[error("duplicate key id {0:?}")]
    DuplicateKeyId(String),
    /// The stored value is not in the encrypted format.
    #[error("malformed encrypted session value")]
    Malformed,
    /// The value was written with a key id this keyring does not hold.
    #[error("unknown encryption key id {0:?}")]
    UnknownKeyId(String),
    /// Authentication failed: wrong key, or the value was altered or moved to another key.
    #[error("encrypted session failed authentication")]
    Authentication,
    /// The decrypted bytes are not UTF-8.
    #[error("decrypted session is not UTF-8")]
    Utf8,
    /// The operating system's random source failed.
    #[error("no randomness for the nonce: {0}")]
    Random(getrandom::Error),
}

struct Entry {
    id: String,
    cipher: Aes256Gcm,
}

/// The encryption keys: one primary key for writing, older keys for reading.
///
/// ```
/// use tessera_redis::Keyring;
/// let ring = Keyring::new("2026-11", [7u8; 32])
///     .unwrap()
///     .with_old_key("2026-05", [9u8; 32])
///     .unwrap();
/// # let _ = ring;
/// ```
pub struct Keyring {
    keys: Vec<Entry>,
    tag_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

fn check_id(id: &str) -> Result<(), CryptoError> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CryptoError::InvalidKeyId(id.to_owned()))
    }
}

impl Keyring {
    /// A keyring whose primary (writing) key is `key`, named `id`.
    pub fn new(id: impl Into<String>, key: [u8; 32]) -> Result<Self, CryptoError> {
        let id = id.into();
        check_id(&id)?;
        let key = Zeroizing::new(key);
        Ok(Self {
            keys: vec![Entry {
                id,
                cipher: Aes256Gcm::new((&*key).into()),
            }],
            tag_key: key,
        })
    }

    /// Adds an older key, still accepted for reading.
    pub fn with_old_key(
        mut self,
        id: impl Into<String>,
        key: [u8; 32],
    ) -> Result<Self, CryptoError> {
        let id = id.into();
        check_id(&id)?;
        if self.keys.iter().any(|k| k.id == id) {
            return Err(CryptoError::DuplicateKeyId(id));
        }
        let key = Zeroizing::new(key);
        self.keys.push(Entry {
            id,
            cipher: Aes256Gcm::new((&*key).into()),
        });
        Ok(self)
    }

    /// The user tag stored in clear beside the ciphertext ('' for no user).
    pub(crate) fn user_tag(&self, user: Option<&str>) -> String {
        let Some(user) = user else {
            return String::new();
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&*self.tag_key)
            .expect("HMAC accepts any key length");
        mac.update(user.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
    }

    /// Encrypts `plaintext` for the Redis key `aad`.
    pub(crate) fn seal(
        &self,
        plaintext: &str,
        aad: &[u8],
        user: Option<&str>,
    ) -> Result<String, CryptoError> {
        let primary = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(CryptoError::Random)?;
        let ct = primary
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad,
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Ok(format!(
            "{MARK}{}:{}:{}",
            primary.id,
            self.user_tag(user),
            STANDARD.encode(blob)
        ))
    }

    /// Decrypts a stored value written for the Redis key `aad`.
    pub(crate) fn open(&self, stored: &str, aad: &[u8]) -> Result<String, CryptoError> {
        let rest = stored.strip_prefix(MARK).ok_or(CryptoError::Malformed)?;
        let mut parts = rest.splitn(3, ':');
        let (Some(id), Some(_tag), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed);
        };
        let entry = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKeyId(id.to_owned()))?;
        let blob = STANDARD.decode(body).map_err(|_| CryptoError::Malformed)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let pt = entry
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CryptoError::Authentication)?;
        String::from_utf8(pt).map_err(|_| CryptoError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_rotation() {
        let old = Keyring::new("k1", [1; 32]).unwrap();
        let sealed = old.seal("{\"a\":1}", b"sess:x", Some("42")).unwrap();
        assert!(sealed.starts_with("tsr1:k1:"));
        assert!(!sealed.contains("\"a\""));
        let rotated = Keyring::new("k2", [2; 32])
            .unwrap()
            .with_old_key("k1", [1; 32])
            .unwrap();
        assert_eq!(rotated.open(&sealed, b"sess:x").unwrap(), "{\"a\":1}");
        assert!(
            rotated
                .seal("{}", b"k", None)
                .unwrap()
                .starts_with("tsr1:k2::")
        );
        let only_new = Keyring::new("k2", [2; 32]).unwrap();
        assert!(matches!(
            only_new.open(&sealed, b"sess:x"),
            Err(CryptoError::UnknownKeyId(_))
        ));
    }

    #[test]
    fn rejects_moved_or_altered_values() {
        let ring = Keyring::new("k", [3; 32]).unwrap();
        let sealed = ring.seal("{}", b"sess:a", None).unwrap();
        assert!(matches!(
            ring.open(&sealed, b"sess:b"),
            Err(CryptoError::Authentication)
        ));
        let mut bad = sealed.clone();
        bad.pop();
        bad.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open(&bad, b"sess:a").is_err());
        assert!(matches!(
            ring.open("{}", b"sess:a"),
            Err(CryptoError::Malformed)
        ));
        assert!(Keyring::new("bad id", [0; 32]).is_err());
        assert!(ring.user_tag(Some("a")) != ring.user_tag(Some("b")));
        assert_eq!(ring.user_tag(None), "");
    }
}
