//! express-session's signed cookie value: `s:<id>.<base64(HMAC-SHA256(secret, id))>`.
//!
//! Signing uses the first secret; verification tries every secret in order, so secrets can
//! be rotated by putting the new one first. Signatures are compared in constant time.

use crate::id::SessionId;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Characters JavaScript's `encodeURIComponent` escapes: all but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The ordered secret list: the first signs, all verify.
#[derive(Clone)]
pub struct Secrets {
    keys: Vec<HmacSha256>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.keys.len())
    }
}

/// A cookie value that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The session id it carries.
    pub id: SessionId,
    /// Which secret verified it (0 = the current signing secret).
    pub secret_index: usize,
}

impl Secrets {
    /// Prepares the secrets without checking their length (see [`Secrets::with_policy`]).
    pub(crate) fn new_unchecked<S: AsRef<[u8]>>(secrets: &[S]) -> Self {
        let keys = secrets
            .iter()
            .map(|s| {
                HmacSha256::new_from_slice(s.as_ref()).expect("HMAC accepts keys of any length")
            })
            .collect();
        Self { keys }
    }

    /// Prepares a secret list, accepting secrets shorter than [`MIN_SECRET_LEN`] as
    /// `policy` says (each accepted one is logged as a warning, without its value).
    pub fn with_policy<S: AsRef<[u8]>>(
        secrets: &[S],
        policy: crate::ShortSecrets,
    ) -> Result<Self, crate::ConfigError> {
        use crate::ShortSecrets;
        if secrets.is_empty() {
            return Err(crate::ConfigError::NoSecret);
        }
        for (index, s) in secrets.iter().enumerate() {
            let len = s.as_ref().len();
            if len >= MIN_SECRET_LEN {
                continue;
            }
            let allowed = match policy {
                ShortSecrets::Sign => true,
                ShortSecrets::VerifyOnly => index > 0,
                _ => false,
            };
            if !allowed {
                return Err(crate::ConfigError::SecretTooShort { index, len });
            }
            tracing::warn!(
                secret = index + 1,
                len,
                signs = index == 0,
                "a session secret shorter than {MIN_SECRET_LEN} bytes is in use (for sharing \
                 sessions with a Node app): it can be guessed offline from any cookie; \
                 rotate to a long secret (put it first) and then drop this one"
            );
        }
        Ok(Self::new_unchecked(secrets))
    }

    /// `base64(HMAC-SHA256(secret[0], id))` without `=` padding.
    fn signature(&self, id: &str) -> String {
        let mut mac = self.keys[0].clone();
        mac.update(id.as_bytes());
        STANDARD_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The raw signed value `s:<id>.<sig>` (before percent-encoding).
    pub fn sign_raw(&self, id: &SessionId) -> String {
        format!("s:{}.{}", id.as_str(), self.signature(id.as_str()))
    }

    /// The cookie value exactly as express-session writes it: percent-encoded `s:<id>.<sig>`.
    ///
    pub fn sign(&self, id: &SessionId) -> String {
        utf8_percent_encode(&self.sign_raw(id), URI_COMPONENT).to_string()
    }

    /// Verifies a cookie (or header) value, percent-encoded or not.
    ///
    /// Returns `None` unless the value is `s:<id>.<sig>` with a signature made by one of the
    /// secrets (tried in order) and a valid id. Comparison is constant-time.
    pub fn verify(&self, value: &str) -> Option<Verified> {
        // Percent-decode into a stack buffer (a signed value is at most the longest id plus
        // 46 bytes), so verifying allocates nothing.
        let mut buf = [0u8; crate::id::MAX_ID_LEN + 64];
        let decoded;
        let value = if value.contains('%') {
            let mut n = 0;
            for b in percent_decode_str(value) {
                *buf.get_mut(n)? = b;
                n += 1;
            }
            decoded = std::str::from_utf8(&buf[..n]).ok()?;
            decoded
        } else {
            value
        };
        let signed = value.strip_prefix("s:")?;
        let (id, sig) = signed.rsplit_once('.')?;
        // A canonical unpadded standard-base64 HMAC-SHA256 is exactly 43 characters; the
        // decoder rejects padding, the URL-safe alphabet and non-canonical trailing bits, so
        // this is equivalent to express's exact string comparison.
        if sig.len() != 43 {
            return None;
        }
        let mut buf = [0u8; 33];
        let n = STANDARD_NO_PAD.decode_slice(sig, &mut buf).ok()?;
        let sig = buf.get(..n).filter(|s| s.len() == 32)?;
        let secret_index = self.keys.iter().position(|key| {
            let mut mac = key.clone();
            mac.update(id.as_bytes());
            mac.verify_slice(sig).is_ok()
        })?;
        Some(Verified {
            id: SessionId::parse(id)?,
            secret_index,
        })
    }

    /// Like [`Secrets::with_policy`] without the length check, for tests and test vectors only.
    #[doc(hidden)]
    #[cfg(test)]
    pub fn new_for_test<S: AsRef<[u8]>>(secrets: &[S]) -> Self {
        Self::new_unchecked(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    // Vectors captured from express-session 1.19.0 (shared/research/node-anchors.md §2.1).
    const VECTORS: &[(&str, &str, &str)] = &[
        (
            "abc",
            "keyboard cat",
            "s%3Aabc.BpxCrWRpvZMh%2Fwk%2Fdjl34N%2Bm%2BVQEU7K%2F5WenLwJCgFU",
        ),
        (
            "WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS",
            "keyboard cat",
            "s%3AWLB00T5veRHhEVBeUTOOCDYhcTBlb7kS.G3f8989DbhDo36BjhHBS10K5LO4hatTw7pCNoo5ZtdU",
        ),
        (
            "OLDSESSIONID",
            "keyboard cat",
            "s%3AOLDSESSIONID.8t5InxRL1UASyxXSMR268RXfNf88Q6TELjFSfs1nHVU",
        ),
        (
            "OLDSESSIONID",
            "new-secret",
            "s%3AOLDSESSIONID.PbBCZBh7U8P33kKQpv7IMaet5ZIFcW%2FDW5llhCvf9iE",
        ),
    ];

    #[test]
    fn signs_like_express_session() {
        for (sid, secret, cookie) in VECTORS {
            assert_eq!(
                Secrets::new_for_test(&[secret]).sign(&id(sid)),
                *cookie,
                "{sid}/{secret}"
            );
        }
    }

    #[test]
    fn verifies_express_session_cookies() {
        for (sid, secret, cookie) in VECTORS {
            let v = Secrets::new_for_test(&[secret])
                .verify(cookie)
                .expect("valid");
            assert_eq!(
                v,
                Verified {
                    id: id(sid),
                    secret_index: 0
                }
            );
            // Also accepted without percent-encoding (header transport).
            let raw = percent_decode_str(cookie).decode_utf8().unwrap();
            assert_eq!(
                Secrets::new_for_test(&[secret]).verify(&raw).unwrap().id,
                id(sid)
            );
        }
    }

    #[test]
    fn rotation_signs_with_first_and_verifies_with_all() {
        let rotated = Secrets::new_for_test(&["new-secret", "keyboard cat"]);
        let old_cookie = VECTORS[2].2;
        assert_eq!(rotated.verify(old_cookie).unwrap().secret_index, 1);
        assert_eq!(rotated.sign(&id("OLDSESSIONID")), VECTORS[3].2);
        assert_eq!(rotated.verify(VECTORS[3].2).unwrap().secret_index, 0);
        // A secret that is no longer listed no longer verifies.
        assert!(
            Secrets::new_for_test(&["new-secret"])
                .verify(old_cookie)
                .is_none()
        );
    }

    #[test]
    fn rejects_tampered_unsigned_and_garbage_values() {
        let s = Secrets::new_for_test(&["keyboard cat"]);
        let good = "s:abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU";
        assert!(s.verify(good).is_some());
        let bad = [
            "abc",                                                // unsigned
            "s:abc",                                              // no signature
            "abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU",    // no s: prefix
            "s:abd.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU",  // id changed
            "s:abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFV",  // sig changed
            "s:abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU=", // padded
            "s:abc.BpxCrWRpvZMh_wk_djl34N-m-VQEU7K_5WenLwJCgFU",  // base64url
            "s:abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFX",  // non-canonical bits
            "s:a b.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU",  // bad id
            "%E0%A4%A",                                           // broken percent-encoding
            "",
        ];
        for b in bad {
            assert!(s.verify(b).is_none(), "{b:?} must be rejected");
        }
        let garbage = "x".repeat(10_000);
        assert!(s.verify(&garbage).is_none());
    }

    #[test]
    fn id_may_contain_dots_split_at_last() {
        let s = Secrets::new_for_test(&["keyboard cat"]);
        let dotted = id("a.b.c");
        assert_eq!(s.verify(&s.sign(&dotted)).unwrap().id, dotted);
    }

    #[test]
    fn short_secrets_are_a_config_error() {
        assert_eq!(
            Secrets::with_policy(&["0123456789"], crate::ShortSecrets::Refuse).unwrap_err(),
            crate::ConfigError::SecretTooShort { index: 0, len: 10 }
        );
        let empty: [&str; 0] = [];
        assert_eq!(
            Secrets::with_policy(&empty, crate::ShortSecrets::Refuse).unwrap_err(),
            crate::ConfigError::NoSecret
        );
    }
}
