//! Encryption at rest compatible with connect-mongo's `createWebCryptoAdapter`.
//!
//! - Key: PBKDF2-HMAC-SHA256(secret, salt, iterations) → 32 bytes, derived once.
//!   Defaults: salt `connect-mongo:webcrypto-default-salt`, 310 000 iterations.
//! - Cipher: AES-256-GCM with a random 12-byte IV and no associated data.
//! - Stored form: `base64(iv ‖ ciphertext ‖ 16-byte tag)` (standard alphabet, padded).
//!
//! The plaintext is the session's JSON string, so a document encrypted by Node with the
//! same secret decrypts here and vice versa.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use zeroize::Zeroize;

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Decoding accepts padded or unpadded base64, like Node's `Buffer.from(s, "base64")`.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What encryption or decryption can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The secret is empty (connect-mongo refuses it too).
    #[error("the encryption secret is empty")]
    EmptySecret,
    /// Zero PBKDF2 iterations.
    #[error("PBKDF2 iterations must be at least 1")]
    NoIterations,
    /// The stored value is not base64.
    #[error("encrypted session is not valid base64")]
    Base64,
    /// The stored value is shorter than an IV plus a tag.
    #[error("encrypted session is too short ({0} bytes)")]
    TooShort(usize),
    /// Authentication failed: wrong secret, salt or iterations, or the value was altered.
    #[error("encrypted session failed authentication (wrong secret or tampered data)")]
    Authentication,
    /// The decrypted bytes are not UTF-8.
    #[error("decrypted session is not UTF-8")]
    Utf8,
    /// The operating system's random source failed.
    #[error("no randomness for the IV: {0}")]
    Random(getrandom::Error),
}

/// connect-mongo's WebCrypto adapter (`createWebCryptoAdapter({ secret })`) in Rust.
///
/// Key derivation runs once here (310 000 PBKDF2 rounds: tens of milliseconds in a release
/// build, about a second in a debug build), so create the adapter once at start-up.
///
/// ```
/// use tessera_mongo::WebCryptoAdapter;
/// let adapter = WebCryptoAdapter::with_params(b"secret", b"salt", 1_000).unwrap();
/// let sealed = adapter.encrypt(r#"{"cookie":{}}"#).unwrap();
/// assert_eq!(adapter.decrypt(&sealed).unwrap(), r#"{"cookie":{}}"#);
/// ```
#[derive(Clone)]
pub struct WebCryptoAdapter {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for WebCryptoAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebCryptoAdapter(<key redacted>)")
    }
}

impl WebCryptoAdapter {
    /// connect-mongo's default salt.
    pub const DEFAULT_SALT: &'static [u8] = b"connect-mongo:webcrypto-default-salt";
    /// connect-mongo's default PBKDF2 iteration count.
    pub const DEFAULT_ITERATIONS: u32 = 310_000;

    /// The adapter with connect-mongo's defaults (salt and iterations); the secret is used
    /// as bytes (a JavaScript string secret is its UTF-8 encoding).
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, CryptoError> {
        Self::with_params(secret, Self::DEFAULT_SALT, Self::DEFAULT_ITERATIONS)
    }

    /// The adapter with connect-mongo's `salt` and `iterations` options.
    pub fn with_params(
        secret: impl AsRef<[u8]>,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, CryptoError> {
        let secret = secret.as_ref();
        if secret.is_empty() {
            return Err(CryptoError::EmptySecret);
        }
        if iterations == 0 {
            return Err(CryptoError::NoIterations);
        }
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret, salt, iterations, &mut key);
        let cipher = Aes256Gcm::new(&key.into());
        key.zeroize();
        Ok(Self { cipher })
    }

    /// Encrypts with a fresh random IV: `base64(iv ‖ ciphertext ‖ tag)`.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, CryptoError> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(CryptoError::Random)?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&iv), plaintext.as_bytes())
            .map_err(|_| CryptoError::Authentication)?;
        let mut out = Vec::with_capacity(IV_LEN + sealed.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts a value written by [`encrypt`](Self::encrypt) or by connect-mongo.
    pub fn decrypt(&self, payload: &str) -> Result<String, CryptoError> {
        let bytes = LENIENT
            .decode(payload.trim())
            .map_err(|_| CryptoError::Base64)?;
        if bytes.len() < IV_LEN + TAG_LEN {
            return Err(CryptoError::TooShort(bytes.len()));
        }
        let (iv, sealed) = bytes.split_at(IV_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(iv), sealed)
            .map_err(|_| CryptoError::Authentication)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> WebCryptoAdapter {
        WebCryptoAdapter::with_params("s3cret", b"salt", 10).unwrap()
    }

    #[test]
    fn round_trip_uses_a_fresh_iv_each_time() {
        let a = fast();
        let x = a.encrypt("hello ü").unwrap();
        let y = a.encrypt("hello ü").unwrap();
        assert_ne!(x, y);
        assert_eq!(a.decrypt(&x).unwrap(), "hello ü");
        assert_eq!(a.decrypt(&y).unwrap(), "hello ü");
        // 12 IV + 8 plaintext bytes + 16 tag = 36 bytes = 48 base64 characters.
        assert_eq!(x.len(), 48);
    }

    #[test]
    fn wrong_key_tampering_and_garbage_are_typed_errors() {
        let a = fast();
        let b = WebCryptoAdapter::with_params("other", b"salt", 10).unwrap();
        let x = a.encrypt("data").unwrap();
        assert!(matches!(b.decrypt(&x), Err(CryptoError::Authentication)));
        let mut raw = STANDARD.decode(&x).unwrap();
        raw[IV_LEN] ^= 1;
        assert!(matches!(
            a.decrypt(&STANDARD.encode(raw)),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(a.decrypt("!!!"), Err(CryptoError::Base64)));
        assert!(matches!(a.decrypt("AAAA"), Err(CryptoError::TooShort(3))));
        assert!(matches!(
            WebCryptoAdapter::new(""),
            Err(CryptoError::EmptySecret)
        ));
        assert!(matches!(
            WebCryptoAdapter::with_params("x", b"s", 0),
            Err(CryptoError::NoIterations)
        ));
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let a = fast();
        let x = a.encrypt("pad me").unwrap();
        assert_eq!(a.decrypt(x.trim_end_matches('=')).unwrap(), "pad me");
    }

    #[test]
    fn debug_does_not_show_the_key() {
        assert_eq!(format!("{:?}", fast()), "WebCryptoAdapter(<key redacted>)");
    }
}
