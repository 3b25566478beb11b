//! Random tokens (ids, secrets, nonces) from the operating system's CSPRNG.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `n` random bytes, URL-safe base64 (no padding).
pub fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    // The OS RNG does not fail on supported platforms; a failure must not yield a
    // predictable token, so abort loudly rather than continue.
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("the operating system's random number generator failed: {e}");
    }
    URL_SAFE_NO_PAD.encode(b)
}
